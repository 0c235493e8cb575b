/**
 * Crash test of the send function (functions/send-campaign.ts): the real handler runs in
 * a child process on the event the send API started it with, is SIGKILLed with a seeded
 * page on the queue but its checkpoint not committed, then again once a seeded number of
 * messages is on the queue, and Lambda's retry runs it to the end. The rerun re-sends at
 * most the uncommitted pages; the consumers then deliver every recipient exactly once.
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, describe, expect, it } from 'vitest';
import { lambdaContext } from '#infra/local/lambda-context.ts';
import {
  CRASH_TEST_TIMEOUT_MS,
  crashRandom,
  killWhen,
  runHandler,
  startHandler,
} from '#test/support/crash/child.ts';
import { deleteMessages, queueDepth, receiveMessages, sqsEvent } from '#test/support/crash/queue.ts';
import { allRecipients, outboxLines, storedCampaign } from '#test/support/crash/state.ts';
import { deliverBatchFunction } from '#test/support/functions.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { audienceCsv, draftCampaign, postUpload, uploadForm } from '#test/support/uploads.ts';

const outbox = join(tmpdir(), `crash-dispatch-${process.pid}-${Date.now()}.jsonl`);
/** The send function's invocations, kept for the test to run in a child. */
const sendEvents: unknown[] = [];
const PAGE_SIZE = 25;
const SHARD_CONCURRENCY = 4;
const runtime = useRuntime({
  deliveryConcurrency: 0,
  env: {
    OUTBOX_PATH: outbox,
    DELIVERY_RETRY_BASE_SECONDS: '0',
    DISPATCH_PAGE_SIZE: String(PAGE_SIZE),
    DISPATCH_SHARD_CONCURRENCY: String(SHARD_CONCURRENCY),
  },
  interceptInvoke: (name, event) => {
    if (name !== 'sendCampaign') return false;
    sendEvents.push(event);
    return true;
  },
});
afterAll(() => rm(outbox, { force: true }));

const RECIPIENTS = 2000;

describe('send function killed mid-dispatch', () => {
  it(
    're-sends at most the uncommitted pages, and the consumers deliver everyone exactly once',
    async () => {
      const { int, seedText } = crashRandom(2);
      const credentials = await newApp('crash-dispatch');
      const api = apiClient(runtime.current.url, credentials);
      const campaignId = await draftCampaign(api);
      const uploaded = await postUpload(api, uploadForm(campaignId, audienceCsv(RECIPIENTS)));
      expect(uploaded.status, seedText).toBe(200);
      expect((await api.post(`/api/campaigns/${campaignId}/send`)).status, seedText).toBe(202);
      await expect.poll(() => sendEvents.length, { timeout: 30_000 }).toBe(1);
      const event = sendEvents[0];

      // 1. Killed with a seeded page on the queue and its checkpoint commit held back.
      const commitPoint = int(1, Math.floor(RECIPIENTS / PAGE_SIZE / 2));
      const first = await killWhen(
        startHandler('sendCampaign', event, { CRASH_GATE: `TransactWriteItems:${commitPoint}:before` }),
      );
      expect(first.killed, `${seedText}: killed before commit ${commitPoint}; ${first.stderr}`).toBe(true);
      const depthAfterFirst = await queueDepth();

      // 2. Lambda's retry, killed once a seeded number of further messages is on the queue.
      const depthPoint = depthAfterFirst + int(1, Math.floor((RECIPIENTS / PAGE_SIZE - depthAfterFirst) / 2));
      const second = await killWhen(
        startHandler('sendCampaign', event),
        async () => (await queueDepth()) >= depthPoint,
      );
      expect(second.killed, `${seedText}: killed at ${depthPoint} messages; ${second.stderr}`).toBe(true);

      // 3. The last retry runs to the end.
      const last = await runHandler('sendCampaign', event);
      expect(last.code, `${seedText}: ${last.stderr}`).toBe(0);
      expect(last.result, seedText).toMatchObject({ action: 'dispatched' });
      const dispatched = await storedCampaign(credentials.appId, campaignId);
      expect(dispatched?.counts, seedText).toEqual({
        pending: 0,
        queued: RECIPIENTS,
        sent: 0,
        failed: 0,
        skipped: 0,
      });

      // On the queue: everyone, and repeats only from the pages the kills left uncommitted.
      const messageCount = await queueDepth();
      const messages = await receiveMessages(messageCount, 120);
      expect(messages.length, seedText).toBe(messageCount);
      const onQueue = new Map<string, number>();
      for (const m of messages) {
        for (const r of (JSON.parse(m.Body ?? '{}') as { recipients: { userId: string }[] }).recipients)
          onQueue.set(r.userId, (onQueue.get(r.userId) ?? 0) + 1);
      }
      expect(onQueue.size, `${seedText}: every recipient on the queue`).toBe(RECIPIENTS);
      const repeats = [...onQueue.values()].reduce((a, n) => a + n - 1, 0);
      // The page held at the gate was on the queue uncommitted: it is certainly sent again.
      expect(repeats, `${seedText}: repeats`).toBeGreaterThan(0);
      // Each kill leaves at most one page per shard being dispatched uncommitted.
      expect(repeats, `${seedText}: repeats`).toBeLessThanOrEqual(2 * SHARD_CONCURRENCY * PAGE_SIZE);
      expect(Math.max(...onQueue.values()), seedText).toBeLessThanOrEqual(3);

      // 4. The consumers (the real handler), 4 at once, duplicates and all.
      const { handler } = (await deliverBatchFunction()) as {
        handler: (event: SQSEvent, context: ReturnType<typeof lambdaContext>) => Promise<SQSBatchResponse>;
      };
      const batches = Array.from({ length: Math.ceil(messages.length / 10) }, (_, i) =>
        messages.slice(i * 10, i * 10 + 10),
      );
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < batches.length) {
            const batch = batches[next] ?? [];
            next += 1;
            const response = await handler(await sqsEvent(batch), lambdaContext('deliverBatch', 90));
            expect(response.batchItemFailures, seedText).toEqual([]);
            await deleteMessages(batch);
          }
        }),
      );

      const lines = await outboxLines(outbox, campaignId);
      expect(lines.size, `${seedText}: everyone delivered`).toBe(RECIPIENTS);
      const twice = [...lines].filter(([, n]) => n > 1).map(([userId]) => userId);
      expect(twice, `${seedText}: delivered more than once`).toEqual([]);
      const items = await allRecipients(credentials.appId, campaignId);
      expect(
        items.filter((r) => r.status !== 'sent').map((r) => r.userId),
        seedText,
      ).toEqual([]);
      const campaign = await storedCampaign(credentials.appId, campaignId);
      expect(campaign?.counts, seedText).toEqual({
        pending: 0,
        queued: 0,
        sent: RECIPIENTS,
        failed: 0,
        skipped: 0,
      });
      expect(campaign?.status, seedText).toBe('sent');
    },
    CRASH_TEST_TIMEOUT_MS,
  );
});
