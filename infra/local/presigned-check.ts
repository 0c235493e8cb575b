/**
 * What S3 checks on a SigV4 presigned request (query-string authentication), for an
 * emulator that checks nothing: the signature over the method, path, query and signed
 * headers (so a URL used for another key, or with another signed Content-Length or
 * Content-Type, does not match), the access key, and the expiry. The answers are S3's
 * own 403 errors (AccessDenied "Request has expired", SignatureDoesNotMatch,
 * InvalidAccessKeyId). Requests signed in the Authorization header are not checked here.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface PresignedRefusal {
  status: number;
  code: string;
  message: string;
  /** Further elements of S3's error document. */
  details: Record<string, string>;
}

/** S3's longest presigned validity: 7 days. */
const MAX_EXPIRES_SECONDS = 604_800;

/** True when the request authenticates with a presigned query string. */
export function isPresigned(url: string): boolean {
  return new URL(url, 'http://local').searchParams.has('X-Amz-Signature');
}

/** Why S3 would refuse this presigned request, or undefined when it would accept it. */
export function checkPresigned(
  request: { method: string; url: string; headers: IncomingHttpHeaders },
  credentials: SigningCredentials,
  now = Date.now(),
): PresignedRefusal | undefined {
  const [path = '/', rawQuery = ''] = request.url.split(/\?(.*)/s, 2);
  const params = parseQuery(rawQuery);
  const param = (name: string) => params.find(([k]) => k === name)?.[1];
  const algorithm = param('X-Amz-Algorithm');
  const credential = param('X-Amz-Credential');
  const amzDate = param('X-Amz-Date');
  const expires = param('X-Amz-Expires');
  const signedHeaders = param('X-Amz-SignedHeaders');
  const signature = param('X-Amz-Signature');
  if (!algorithm || !credential || !amzDate || !expires || !signedHeaders || !signature) {
    return queryError(
      'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
    );
  }
  if (algorithm !== 'AWS4-HMAC-SHA256') {
    return queryError('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  }
  const [accessKeyId, shortDate, region, service, terminator] = credential.split('/');
  if (!accessKeyId || !shortDate || !region || !service || terminator !== 'aws4_request') {
    return queryError(
      `Error parsing the X-Amz-Credential parameter; the value '${credential}' is malformed.`,
    );
  }
  const signedAt = parseAmzDate(amzDate);
  if (signedAt === undefined || !amzDate.startsWith(shortDate)) {
    return queryError(
      `X-Amz-Date must be in the ISO8601 Long Format ("yyyyMMdd'T'HHmmss'Z'"), got '${amzDate}'.`,
    );
  }
  const lifetime = Number(expires);
  if (!Number.isInteger(lifetime) || lifetime < 0) {
    return queryError('X-Amz-Expires should be a number');
  }
  if (lifetime > MAX_EXPIRES_SECONDS) {
    return queryError('X-Amz-Expires must be less than a week (in seconds) that is 604800');
  }
  if (accessKeyId !== credentials.accessKeyId) {
    return {
      status: 403,
      code: 'InvalidAccessKeyId',
      message: 'The AWS Access Key Id you provided does not exist in our records.',
      details: { AWSAccessKeyId: accessKeyId },
    };
  }
  const expiresAt = signedAt + lifetime * 1000;
  if (now > expiresAt) {
    return {
      status: 403,
      code: 'AccessDenied',
      message: 'Request has expired',
      details: {
        'X-Amz-Expires': expires,
        Expires: new Date(expiresAt).toISOString(),
        ServerTime: new Date(now).toISOString(),
      },
    };
  }

  const canonicalQuery = params
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headerNames = signedHeaders.split(';');
  const canonicalHeaders = headerNames
    .map((name) => {
      const value = request.headers[name];
      const text = Array.isArray(value) ? value.join(',') : (value ?? '');
      return `${name}:${text.trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  const payloadHash = param('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD';
  const canonicalRequest = [
    request.method,
    path,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join('\n');
  const scope = `${shortDate}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  let key: Buffer = hmac(`AWS4${credentials.secretAccessKey}`, shortDate);
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  const expected = createHmac('sha256', key).update(stringToSign).digest();
  const given = Buffer.from(signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return {
      status: 403,
      code: 'SignatureDoesNotMatch',
      message:
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      details: { AWSAccessKeyId: accessKeyId, StringToSign: stringToSign, SignatureProvided: signature },
    };
  }
  return undefined;
}

/** S3's XML error document. */
export function errorXml(refusal: PresignedRefusal, requestId: string): string {
  const xml = (s: string) =>
    s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
  const details = Object.entries(refusal.details)
    .map(([k, v]) => `<${k}>${xml(v)}</${k}>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${refusal.code}</Code><Message>${xml(refusal.message)}</Message>${details}<RequestId>${requestId}</RequestId><HostId>${requestId}</HostId></Error>`;
}

function queryError(message: string): PresignedRefusal {
  return { status: 400, code: 'AuthorizationQueryParametersError', message, details: {} };
}

function parseQuery(raw: string): [string, string][] {
  if (raw === '') return [];
  return raw.split('&').map((pair) => {
    const [k = '', v = ''] = pair.split(/=(.*)/s, 2);
    return [safeDecode(k), safeDecode(v)];
  });
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replaceAll('+', '%20'));
  } catch {
    return s;
  }
}

/** SigV4's URI encoding: everything but A-Z a-z 0-9 - _ . ~ is percent-encoded. */
function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function parseAmzDate(value: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  return Date.UTC(y as number, (mo as number) - 1, d, h, mi, s);
}

function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}
