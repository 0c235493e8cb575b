/**
 * Crash test of the importer (functions/import-csv.ts): the real handler runs in a child
 * process on the S3 event the upload produced, is SIGKILLed mid-import (right after a
 * seeded progress write, when a seeded number of recipients is stored, right after a
 * seeded `BatchWriteItem`, right after the transaction that completes it), and is retried the way Lambda retries an asynchronous
 * invocation. A retry inside the dead
 * importer's lease finds the upload busy; once the lease ran out it takes over.
 */
import { isDeepStrictEqual } from 'node:util';
import type { S3Event } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createRecipientsStore } from '#shared/store/recipients.ts';
import { createUploadsStore } from '#shared/store/uploads.ts';
import {
  CRASH_TEST_TIMEOUT_MS,
  crashRandom,
  killWhen,
  runHandler,
  spawnHandler,
  startHandler,
} from '#test/support/crash/child.ts';
import { allRecipients, storedCampaign } from '#test/support/crash/state.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { audienceCsv, draftCampaign, postUpload, uploadForm } from '#test/support/uploads.ts';

/** The S3 notifications, kept for the test to run the importer itself. */
const objectEvents: S3Event[] = [];
const runtime = useRuntime({
  deliveryConcurrency: 0,
  env: { IMPORT_LEASE_SECONDS: '3', UPLOAD_WAIT_SECONDS: '0' },
  interceptInvoke: (name, event) => {
    if (name !== 'importCsv') return false;
    objectEvents.push(event as S3Event);
    return true;
  },
});

const ROWS = 12_000;

describe('importer killed mid-import', () => {
  it(
    'ends with every row stored once, with its own variables, and exact counts',
    async () => {
      const { int, seedText } = crashRandom(1);
      const credentials = await newApp('crash-import');
      const api = apiClient(runtime.current.url, credentials);
      const campaignId = await draftCampaign(api);
      // Each row's variables differ from its neighbours', so a row stored under another id shows.
      const csv = audienceCsv(ROWS, 1, (i) => `N${(i * 7919) % 100_003}`);
      const posted = await postUpload(api, uploadForm(campaignId, csv));
      expect(posted.status, seedText).toBe(202);
      const uploadId = posted.body.data.uploadId as string;
      await expect.poll(() => objectEvents.length, { timeout: 30_000 }).toBeGreaterThan(0);
      const event = objectEvents.find((e) => e.Records[0]?.s3.object.key.includes(uploadId));
      expect(event, seedText).toBeDefined();

      const { countRecipients } = createRecipientsStore(runtime.current.table);
      const { findUpload } = createUploadsStore(runtime.current.table);

      // 1. Killed right after a seeded progress write (the lease just renewed): 2 heartbeats of
      // the validating pass (every 5,000 rows), then 2 progress writes of the writing pass.
      // Lambda's retry is warm already, so that it comes while the dead importer's lease holds.
      const retry = spawnHandler('importCsv');
      await retry.ready;
      const progressPoint = int(1, 4);
      const first = await killWhen(
        startHandler('importCsv', event, {
          CRASH_GATE: `UpdateItem~rowsRead = :rowsRead:${progressPoint}:after`,
        }),
      );
      expect(first.killed, `${seedText}: killed after progress write ${progressPoint}; ${first.stderr}`).toBe(
        true,
      );
      const afterFirst = await findUpload(credentials.appId, campaignId, uploadId);
      expect(afterFirst?.status, seedText).toBe('processing');

      // 2. That retry, within the dead importer's lease: busy, it fails for a later retry.
      const busy = await retry.invoke(event).exited;
      expect(busy.code, `${seedText}: ${busy.stderr}`).toBe(1);
      expect(busy.stderr, seedText).toContain('being imported by another invocation');

      // 3. After the lease the next retry takes over; killed once a seeded number of further
      // recipients is in the table.
      await waitForLease(credentials.appId, campaignId, uploadId);
      const stored = await countRecipients(credentials.appId, campaignId);
      const countPoint = stored + int(1, Math.floor((ROWS - stored) / 2));
      const second = await killWhen(
        startHandler('importCsv', event),
        async () => (await countRecipients(credentials.appId, campaignId)) >= countPoint,
      );
      expect(second.killed, `${seedText}: killed at ${countPoint} recipients; ${second.stderr}`).toBe(true);

      // 4. And the next, killed right after a seeded batch write of its own.
      await waitForLease(credentials.appId, campaignId, uploadId);
      const batchPoint = int(1, Math.floor(ROWS / 25 / 2));
      const third = await killWhen(
        startHandler('importCsv', event, { CRASH_GATE: `BatchWriteItem:${batchPoint}:after` }),
      );
      expect(third.killed, `${seedText}: killed at batch write ${batchPoint}; ${third.stderr}`).toBe(true);

      // 5. The next retry imports everything, and is killed right after the transaction that
      // completes the upload, before it could answer.
      await waitForLease(credentials.appId, campaignId, uploadId);
      const completing = await killWhen(
        startHandler('importCsv', event, { CRASH_GATE: 'TransactWriteItems~:completed:1:after' }),
      );
      expect(completing.killed, `${seedText}: killed after completing; ${completing.stderr}`).toBe(true);

      // 6. Lambda retries that invocation too: the upload is done, nothing is imported again.
      const last = await runHandler('importCsv', event);
      expect(last.code, `${seedText}: ${last.stderr}`).toBe(0);

      const upload = (await api.get(`/api/campaigns/${campaignId}/uploads/${uploadId}`)).body.data;
      expect(upload, seedText).toMatchObject({
        status: 'completed',
        rowsRead: ROWS,
        uploaded: ROWS,
        rejected: 0,
        duplicates: 0,
      });
      const campaign = await storedCampaign(credentials.appId, campaignId);
      expect(campaign?.recipientCount, seedText).toBe(ROWS);
      expect(campaign?.counts, seedText).toEqual({
        pending: ROWS,
        queued: 0,
        sent: 0,
        failed: 0,
        skipped: 0,
      });
      expect(campaign?.importingUploadId, seedText).toBeUndefined();

      const items = await allRecipients(credentials.appId, campaignId);
      expect(items.length, seedText).toBe(ROWS);
      const byUser = new Map(items.map((item) => [item.userId, item]));
      expect(byUser.size, `${seedText}: each user id stored once`).toBe(ROWS);
      const wrong: string[] = [];
      for (let i = 1; i <= ROWS; i += 1) {
        const userId = `u${String(i).padStart(6, '0')}`;
        const item = byUser.get(userId);
        const expected = { name: `N${(i * 7919) % 100_003}`, discount: i % 50, vip: i % 2 === 0 };
        if (item?.status !== 'pending' || !isDeepStrictEqual(item.variables, expected)) wrong.push(userId);
      }
      expect(wrong.slice(0, 5), `${seedText}: ${wrong.length} recipients missing or wrong`).toEqual([]);

      // The campaign is usable: it sends (no import lock left behind).
      expect((await api.post(`/api/campaigns/${campaignId}/send`)).status, seedText).toBe(202);
    },
    CRASH_TEST_TIMEOUT_MS,
  );
});

/** Waits until the dead importer's lease has run out, as Lambda's retry delay would. */
async function waitForLease(appId: string, campaignId: string, uploadId: string): Promise<void> {
  const { findUpload } = createUploadsStore(runtime.current.table);
  const upload = await findUpload(appId, campaignId, uploadId);
  const wait = (upload?.leaseUntil ?? 0) - Date.now() + 50;
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}
