import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { describe, expect, it } from 'vitest';
import { checkPresigned, errorXml, isPresigned } from '#infra/local/presigned-check.ts';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const s3 = new S3Client({
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:4566',
  forcePathStyle: true,
  credentials,
});

/** The request a client makes with a presigned URL: path and query, and the signed headers. */
function requestOf(url: string, method: string, headers: Record<string, string> = {}) {
  const u = new URL(url);
  return { method, url: `${u.pathname}${u.search}`, headers: { host: u.host, ...headers } };
}

async function putUrl(key: string, length: number, expiresIn = 900) {
  return getSignedUrl(
    s3,
    new PutObjectCommand({ Bucket: 'b', Key: key, ContentLength: length, ContentType: 'text/csv' }),
    { expiresIn, signableHeaders: new Set(['content-length', 'content-type']) },
  );
}

describe('checking a presigned request as S3 does', () => {
  it.each(['uploads/app/cmp/upl.csv', 'uploads/a b/c+d/é ü.csv', "uploads/odd/(x)!*'~.csv"])(
    'accepts the SDK signature of a PUT to %s',
    async (key) => {
      const url = await putUrl(key, 10);
      expect(isPresigned(url)).toBe(true);
      const headers = { 'content-length': '10', 'content-type': 'text/csv' };
      expect(checkPresigned(requestOf(url, 'PUT', headers), credentials)).toBeUndefined();
    },
  );

  it('accepts a GET (report download) URL', async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'b', Key: 'reports/a/c/u.csv' }));
    expect(checkPresigned(requestOf(url, 'GET'), credentials)).toBeUndefined();
  });

  it('refuses another size, type, method, key or secret with SignatureDoesNotMatch', async () => {
    const url = await putUrl('uploads/a/c/u.csv', 10);
    const ok = { 'content-length': '10', 'content-type': 'text/csv' };
    const refusals = [
      checkPresigned(requestOf(url, 'PUT', { ...ok, 'content-length': '11' }), credentials),
      checkPresigned(requestOf(url, 'PUT', { 'content-type': 'text/csv' }), credentials),
      checkPresigned(requestOf(url, 'PUT', { ...ok, 'content-type': 'text/plain' }), credentials),
      checkPresigned(requestOf(url, 'POST', ok), credentials),
      checkPresigned(requestOf(url.replace('/u.csv', '/v.csv'), 'PUT', ok), credentials),
      checkPresigned(requestOf(url, 'PUT', ok), { ...credentials, secretAccessKey: 'other' }),
    ];
    for (const refusal of refusals)
      expect(refusal).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
  });

  it('refuses an expired URL with AccessDenied "Request has expired", a second after its end', async () => {
    const url = await putUrl('uploads/a/c/u.csv', 10, 60);
    const headers = { 'content-length': '10', 'content-type': 'text/csv' };
    const signedAt = Date.now();
    expect(checkPresigned(requestOf(url, 'PUT', headers), credentials, signedAt + 58_000)).toBeUndefined();
    const refusal = checkPresigned(requestOf(url, 'PUT', headers), credentials, signedAt + 62_000);
    expect(refusal).toMatchObject({ status: 403, code: 'AccessDenied', message: 'Request has expired' });
    expect(errorXml(refusal as never, 'r1')).toContain(
      '<Error><Code>AccessDenied</Code><Message>Request has expired</Message><X-Amz-Expires>60</X-Amz-Expires>',
    );
  });

  it('refuses an unknown access key and missing parameters', async () => {
    const url = await putUrl('uploads/a/c/u.csv', 10);
    const headers = { 'content-length': '10', 'content-type': 'text/csv' };
    expect(
      checkPresigned(requestOf(url, 'PUT', headers), { ...credentials, accessKeyId: 'AKIA' }),
    ).toMatchObject({
      status: 403,
      code: 'InvalidAccessKeyId',
    });
    const noDate = url.replace(/&?X-Amz-Date=[^&]*/, '');
    expect(checkPresigned(requestOf(noDate, 'PUT', headers), credentials)).toMatchObject({
      status: 400,
      code: 'AuthorizationQueryParametersError',
    });
  });
});
