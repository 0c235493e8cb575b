/**
 * The single-table key design. Every item of an app lives under keys that start with
 * its app id, so a lookup with another app's id finds nothing: isolation is in the key.
 *
 * | item      | pk                                  | sk                        | gsi1pk / gsi1sk                                   |
 * |-----------|-------------------------------------|---------------------------|---------------------------------------------------|
 * | app       | `APP#<appId>`                       | `APP`                     |                                                   |
 * | template  | `APP#<appId>`                       | `TEMPLATE#<templateId>`   |                                                   |
 * | campaign  | `APP#<appId>`                       | `CAMPAIGN#<campaignId>`   | `APP#<appId>#CAMPAIGNS#<status>` / `<campaignId>` |
 * | upload    | `APP#<appId>`                       | `UPLOAD#<campaignId>#<uploadId>` |                                            |
 * | recipient | `APP#<appId>#C#<campaignId>#S#<n>`  | `U#<userId>`              | `APP#<appId>#C#<campaignId>#ST#<status>#S#<n>` / `<userId>` |
 * | export    | `APP#<appId>`                       | `EXPORT#<campaignId>#<exportId>` |                                            |
 * | pace      | `APP#<appId>` (its own webhook)     | `PACE`                    |                                                   |
 * | pace      | `DEPLOYMENT` (the default channel)  | `PACE`                    |                                                   |
 *
 * Recipients are spread over `n = shardOf(userId)` partitions so that 100,000 writes
 * are not capped by one partition's write rate (docs/design.md, "No hot partition").
 * Ids are time-ordered (see `newId`), so listings by sort key come oldest first.
 */
import { createHash, randomBytes } from 'node:crypto';
import { uploadsBucket } from '#shared/resources.ts';

export const appPk = (appId: string) => `APP#${appId}`;
export const APP_SK = 'APP';
export const templateSk = (templateId: string) => `TEMPLATE#${templateId}`;
export const campaignSk = (campaignId: string) => `CAMPAIGN#${campaignId}`;
export const campaignsByStatusPk = (appId: string, status: string) => `APP#${appId}#CAMPAIGNS#${status}`;
export const uploadSk = (campaignId: string, uploadId: string) => `UPLOAD#${campaignId}#${uploadId}`;

export const recipientPk = (appId: string, campaignId: string, shard: number) =>
  `APP#${appId}#C#${campaignId}#S#${shard}`;
export const recipientSk = (userId: string) => `U#${userId}`;
export const recipientsByStatusPk = (appId: string, campaignId: string, status: string, shard: number) =>
  `APP#${appId}#C#${campaignId}#ST#${status}#S#${shard}`;

/** The shard of a user id: a stable hash, so every writer puts a user in the same partition. */
export function shardOf(userId: string, shards: number): number {
  return createHash('md5').update(userId).digest().readUInt32BE(0) % shards;
}

/**
 * A new opaque id: 10 characters of time (ms, base 32, sortable) then 16 random ones,
 * so ids sort by creation and cannot be guessed.
 */
export function newId(prefix: string, now = Date.now()): string {
  const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i += 1) {
    time = alphabet[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const random = randomBytes(16);
  let rest = '';
  for (const byte of random) rest += alphabet[byte % 32];
  return `${prefix}_${time}${rest}`;
}

/** S3 key of an upload's file: `uploads/<appId>/<campaignId>/<uploadId>.csv`. */
export const uploadObjectKey = (appId: string, campaignId: string, uploadId: string) =>
  `${uploadsBucket.uploadsPrefix}${appId}/${campaignId}/${uploadId}.csv`;

/** The ids an upload's object key names, or undefined for a key outside that layout. */
export function parseUploadObjectKey(
  key: string,
): { appId: string; campaignId: string; uploadId: string } | undefined {
  if (!key.startsWith(uploadsBucket.uploadsPrefix)) return undefined;
  const parts = key.slice(uploadsBucket.uploadsPrefix.length).split('/');
  const [appId, campaignId, file] = parts;
  if (parts.length !== 3 || !appId || !campaignId || !file?.endsWith('.csv')) return undefined;
  const uploadId = file.slice(0, -'.csv'.length);
  return uploadId ? { appId, campaignId, uploadId } : undefined;
}

/** S3 key of an upload's rejections report. */
export const rejectionsReportKey = (appId: string, campaignId: string, uploadId: string) =>
  `${uploadsBucket.reportsPrefix}${appId}/${campaignId}/${uploadId}-rejections.csv`;

export const exportSk = (campaignId: string, exportId: string) => `EXPORT#${campaignId}#${exportId}`;

/**
 * The key of a pace bucket's item (`PaceLimit.bucket`): an app's own webhook (`app:<appId>`)
 * under the app's key, the deployment's default channel (`default`) under `DEPLOYMENT`.
 */
export function paceKey(bucket: string): { pk: string; sk: string } {
  if (bucket === 'default') return { pk: 'DEPLOYMENT', sk: 'PACE' };
  const appId = bucket.startsWith('app:') ? bucket.slice('app:'.length) : '';
  if (!appId) throw new Error(`Unknown pace bucket '${bucket}': expected 'default' or 'app:<appId>'.`);
  return { pk: appPk(appId), sk: 'PACE' };
}

/** S3 key of a recipient export: `exports/<appId>/<campaignId>/<exportId>.csv` (private prefix). */
export const exportObjectKey = (appId: string, campaignId: string, exportId: string) =>
  `${uploadsBucket.exportsPrefix}${appId}/${campaignId}/${exportId}.csv`;
