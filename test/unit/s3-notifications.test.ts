import { describe, expect, it } from 'vitest';
import { createdObject } from '#infra/local/s3-notifications.ts';

describe('which S3 requests create an object', () => {
  it('reports a successful PUT of an object with its decoded key', () => {
    expect(createdObject('PUT', '/bucket/uploads/a%20b/file.csv?x-id=PutObject', 200)).toEqual({
      bucket: 'bucket',
      key: 'uploads/a b/file.csv',
      eventName: 'ObjectCreated:Put',
    });
  });

  it('reports a completed multipart upload but not its parts', () => {
    expect(createdObject('PUT', '/bucket/k?partNumber=1&uploadId=u', 200)).toBeUndefined();
    expect(createdObject('POST', '/bucket/k?uploadId=u', 200)?.eventName).toBe(
      'ObjectCreated:CompleteMultipartUpload',
    );
  });

  it('ignores failed writes, bucket creation and reads', () => {
    expect(createdObject('PUT', '/bucket/k', 403)).toBeUndefined();
    expect(createdObject('PUT', '/bucket', 200)).toBeUndefined();
    expect(createdObject('GET', '/bucket/k', 200)).toBeUndefined();
  });
});
