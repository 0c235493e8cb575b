import { describe, expect, it } from 'vitest';
import { paceKey, parseUploadObjectKey, rejectionsReportKey, uploadObjectKey } from '#shared/domain/keys.ts';

describe('upload object keys', () => {
  it('name the app, campaign and upload, and read back to them', () => {
    const key = uploadObjectKey('app-1', 'cmp_1', 'upl_1');
    expect(key).toBe('uploads/app-1/cmp_1/upl_1.csv');
    expect(parseUploadObjectKey(key)).toEqual({ appId: 'app-1', campaignId: 'cmp_1', uploadId: 'upl_1' });
  });

  it('are not confused with other objects of the bucket', () => {
    for (const key of [
      rejectionsReportKey('app-1', 'cmp_1', 'upl_1'),
      'uploads/app-1/cmp_1/upl_1.txt',
      'uploads/app-1/upl_1.csv',
      'uploads/app-1/cmp_1/x/upl_1.csv',
      'uploads/app-1/cmp_1/.csv',
      'staging/app-1/cmp_1/upl_1.csv',
    ]) {
      expect(parseUploadObjectKey(key), key).toBeUndefined();
    }
  });
});

describe('pace bucket keys', () => {
  it("put an app's bucket under the app's key and the default channel's under the deployment's", () => {
    expect(paceKey('app:app-1')).toEqual({ pk: 'APP#app-1', sk: 'PACE' });
    expect(paceKey('default')).toEqual({ pk: 'DEPLOYMENT', sk: 'PACE' });
  });

  it('refuse a bucket that names neither', () => {
    for (const bucket of ['app:', 'App:app-1', 'deployment', '']) {
      expect(() => paceKey(bucket), bucket).toThrow(`Unknown pace bucket '${bucket}'`);
    }
  });
});
