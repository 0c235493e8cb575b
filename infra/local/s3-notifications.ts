/**
 * Bucket notifications for S3 emulators that have none. A streaming reverse proxy in
 * front of the emulator: every object write that succeeds (PUT, presigned PUT, copy,
 * completed multipart upload) under a watched prefix becomes the `ObjectCreated`
 * event record that S3 sends to Lambda. Path-style requests only. Given the emulator's
 * credentials, it also refuses presigned requests as S3 does (expired, another key,
 * another signed size or type, a wrong signature: `presigned-check.ts`), since the
 * emulator accepts any.
 */
import { createServer, request, type Server } from 'node:http';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3Event, S3EventRecord } from 'aws-lambda';
import { listenOnLoopback } from './loopback.ts';
import { checkPresigned, errorXml, isPresigned, type SigningCredentials } from './presigned-check.ts';

export interface S3NotificationProxy {
  readonly endpoint: string;
  stop(): Promise<void>;
}

export interface S3NotificationOptions {
  /** Where the emulator listens. */
  target: string;
  region: string;
  /** Bucket and key prefix to watch, like the bucket's notification filter. */
  bucket: string;
  prefix: string;
  /** Called once per created object, after the emulator has answered the client. */
  onObjectCreated: (event: S3Event) => void;
  /** The credentials presigned URLs must be signed with; without them they are not checked. */
  credentials?: SigningCredentials;
}

export async function startS3NotificationProxy(options: S3NotificationOptions): Promise<S3NotificationProxy> {
  const target = new URL(options.target);
  const head = new S3Client({ region: options.region, endpoint: options.target, forcePathStyle: true });
  let sequence = 0;

  const server: Server = createServer((req, res) => {
    if (options.credentials && req.url && isPresigned(req.url)) {
      const refusal = checkPresigned(
        { method: req.method ?? 'GET', url: req.url, headers: req.headers },
        options.credentials,
      );
      if (refusal) {
        sequence += 1;
        const body = errorXml(refusal, `local-refused-${sequence}`);
        // Answer once the body is read, so that a client still sending it sees the answer.
        req.resume();
        req.on('end', () => {
          res.writeHead(refusal.status, { 'content-type': 'application/xml' });
          res.end(body);
        });
        return;
      }
    }
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
        upstreamRes.on('end', () => {
          const created = createdObject(req.method, req.url, upstreamRes.statusCode);
          if (created && created.bucket === options.bucket && created.key.startsWith(options.prefix)) {
            void notify(created.bucket, created.key, created.eventName);
          }
        });
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });

  async function notify(bucket: string, key: string, eventName: string): Promise<void> {
    try {
      const object = await head.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      sequence += 1;
      const record: S3EventRecord = {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: options.region,
        eventTime: new Date().toISOString(),
        eventName,
        userIdentity: { principalId: 'local' },
        requestParameters: { sourceIPAddress: '127.0.0.1' },
        responseElements: { 'x-amz-request-id': `local-${sequence}`, 'x-amz-id-2': `local-${sequence}` },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'uploads',
          bucket: { name: bucket, ownerIdentity: { principalId: 'local' }, arn: `arn:aws:s3:::${bucket}` },
          object: {
            // S3 sends keys URL-encoded, with '+' for spaces.
            key: encodeURIComponent(key).replaceAll('%20', '+').replaceAll('%2F', '/'),
            size: object.ContentLength ?? 0,
            eTag: (object.ETag ?? '').replaceAll('"', ''),
            sequencer: sequence.toString(16).padStart(16, '0').toUpperCase(),
          },
        },
      };
      options.onObjectCreated({ Records: [record] });
    } catch {
      // The object was deleted before we looked; S3 would still notify, but there is nothing to import.
    }
  }

  const { endpoint, close } = await listenOnLoopback(server);
  return {
    endpoint,
    async stop() {
      await close();
      head.destroy();
    },
  };
}

/** The object a successful path-style request created, if it created one. */
export function createdObject(
  method: string | undefined,
  url: string | undefined,
  status: number | undefined,
): { bucket: string; key: string; eventName: string } | undefined {
  if (!url || status === undefined || status < 200 || status >= 300) return undefined;
  const parsed = new URL(url, 'http://local');
  const [, bucket, ...rest] = parsed.pathname.split('/');
  if (!bucket || rest.length === 0) return undefined;
  const key = rest.map((part) => decodeURIComponent(part)).join('/');
  if (key === '') return undefined;
  const query = parsed.searchParams;
  if (
    method === 'PUT' &&
    !query.has('uploadId') &&
    !query.has('partNumber') &&
    !query.has('tagging') &&
    !query.has('acl')
  ) {
    return { bucket, key, eventName: 'ObjectCreated:Put' };
  }
  if (method === 'POST' && query.has('uploadId')) {
    return { bucket, key, eventName: 'ObjectCreated:CompleteMultipartUpload' };
  }
  return undefined;
}
