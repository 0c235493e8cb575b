/**
 * Crash test of the deliver consumer (functions/deliver-batch.ts): the real handler runs
 * in a child process on messages received from the delivery queue, is SIGKILLed right
 * after a seeded claim (a recipient claimed, its channel call not made), runs again on
 * the same messages when SQS brings them back after their visibility timeout, is
 * SIGKILLed there before counting, and a third receive ends it. Nothing is delivered
 * twice, nobody is lost, and the counters match the recipients.
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CRASH_TEST_TIMEOUT_MS,
  crashRandom,
  killWhen,
  runHandler,
  startHandler,
} from '#test/support/crash/child.ts';
import { deleteMessages, queueDepth, receiveMessages, sqsEvent } from '#test/support/crash/queue.ts';
import { allRecipients, outboxLines, storedCampaign } from '#test/support/crash/state.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { audienceCsv, draftCampaign, postUpload, uploadForm } from '#test/support/uploads.ts';

const outbox = join(tmpdir(), `crash-deliver-${process.pid}-${Date.now()}.jsonl`);
const runtime = useRuntime({
  deliveryConcurrency: 0,
  env: { OUTBOX_PATH: outbox, DELIVERY_RETRY_BASE_SECONDS: '0' },
});
afterAll(() => rm(outbox, { force: true }));

const RECIPIENTS = 250;
/** How long a received message stays hidden: the consumer's "timeout" in this test. */
const VISIBILITY_SECONDS = 2;
/** The consumer's claim: a recipient moved from pending or queued to sent. */
const CLAIM = 'UpdateItem~IN (:pending, :queued)~"sent"';

describe('deliver consumer killed mid-batch', () => {
  it(
    'delivers nobody twice, loses nobody, and counts every recipient once',
    async () => {
      const { int, seedText } = crashRandom(3);
      const credentials = await newApp('crash-deliver');
      const api = apiClient(runtime.current.url, credentials);
      const campaignId = await draftCampaign(api);
      const uploaded = await postUpload(api, uploadForm(campaignId, audienceCsv(RECIPIENTS)));
      expect(uploaded.status, seedText).toBe(200);
      expect((await api.post(`/api/campaigns/${campaignId}/send`)).status, seedText).toBe(202);
      await expect
        .poll(async () => (await storedCampaign(credentials.appId, campaignId))?.counts.queued, {
          timeout: 30_000,
        })
        .toBe(RECIPIENTS);
      await runtime.current.idle();

      // Dispatch made one message per shard: the consumer gets them in batches of 10.
      const messageCount = await queueDepth();
      const first = await receiveMessages(messageCount, VISIBILITY_SECONDS);
      expect(first.length, seedText).toBe(messageCount);
      const [batchA, batchB] = [first.slice(0, 10), first.slice(10)];
      const recipientsOf = (messages: typeof first) =>
        messages.reduce(
          (n, m) => n + (JSON.parse(m.Body ?? '{}') as { recipients: unknown[] }).recipients.length,
          0,
        );

      // 1. Two consumers at once. A is killed right after a seeded claim (that recipient is
      // claimed, its channel call never made); B is killed before a seeded count (its
      // recipients delivered, not yet counted).
      const claimPoint = int(1, recipientsOf(batchA));
      const countPoint = int(1, batchB.length);
      const [killedA, killedB] = await Promise.all([
        killWhen(
          startHandler('deliverBatch', await sqsEvent(batchA), {
            CRASH_GATE: `${CLAIM}:${claimPoint}:after`,
          }),
        ),
        killWhen(
          startHandler('deliverBatch', await sqsEvent(batchB), {
            CRASH_GATE: `TransactWriteItems:${countPoint}:before`,
          }),
        ),
      ]);
      expect(killedA.killed, `${seedText}: A killed after claim ${claimPoint}; ${killedA.stderr}`).toBe(true);
      expect(killedB.killed, `${seedText}: B killed before count ${countPoint}; ${killedB.stderr}`).toBe(
        true,
      );
      const afterKill = await allRecipients(credentials.appId, campaignId);
      const linesAfterKill = await outboxLines(outbox, campaignId);
      const claimedNotDelivered = afterKill
        .filter((r) => r.status === 'sent' && !linesAfterKill.has(r.userId))
        .map((r) => r.userId);
      expect(claimedNotDelivered.length, `${seedText}: claimed, channel not called`).toBeGreaterThan(0);

      // 2. SQS brings the same messages back after their visibility timeout; they run to the end.
      const second = await receiveMessages(messageCount, 60);
      expect(second.map((m) => m.MessageId).sort(), seedText).toEqual(first.map((m) => m.MessageId).sort());
      expect(new Set(second.map((m) => m.Attributes?.ApproximateReceiveCount)), seedText).toEqual(
        new Set(['2']),
      );
      const reruns = await Promise.all(
        [second.slice(0, 10), second.slice(10)].map(async (batch) =>
          runHandler('deliverBatch', await sqsEvent(batch)),
        ),
      );
      for (const rerun of reruns) {
        expect(rerun.code, `${seedText}: ${rerun.stderr}`).toBe(0);
        expect((rerun.result as SQSBatchResponse).batchItemFailures, seedText).toEqual([]);
      }
      await deleteMessages(second);
      expect(await queueDepth(), seedText).toBe(0);

      // Nothing delivered twice.
      const lines = await outboxLines(outbox, campaignId);
      const twice = [...lines].filter(([, n]) => n > 1).map(([userId]) => userId);
      expect(twice, `${seedText}: delivered more than once`).toEqual([]);

      // Nobody lost: each recipient is sent (and delivered once) or failed with the reason.
      const items = await allRecipients(credentials.appId, campaignId);
      expect(items.length, seedText).toBe(RECIPIENTS);
      const sent = items.filter((r) => r.status === 'sent');
      const failed = items.filter((r) => r.status === 'failed');
      expect(sent.length + failed.length, `${seedText}: every recipient settled`).toBe(RECIPIENTS);
      const sentNotDelivered = sent.filter((r) => lines.get(r.userId) !== 1).map((r) => r.userId);
      expect(sentNotDelivered, `${seedText}: counted sent, never delivered`).toEqual([]);
      for (const r of failed)
        expect(r.error, `${seedText}: ${r.userId}`).toMatch(/may or may not have received/);
      // The recipients the kill left claimed without a channel call end failed, not sent, never delivered.
      for (const userId of claimedNotDelivered) {
        const item = items.find((r) => r.userId === userId);
        expect({ userId, status: item?.status, lines: lines.get(userId) ?? 0 }, seedText).toEqual({
          userId,
          status: 'failed',
          lines: 0,
        });
      }

      // Counters: exact, and the campaign ended.
      const campaign = await storedCampaign(credentials.appId, campaignId);
      expect(campaign?.counts, seedText).toEqual({
        pending: 0,
        queued: 0,
        sent: sent.length,
        failed: failed.length,
        skipped: 0,
      });
      expect(campaign?.status, seedText).toBe(sent.length === 0 ? 'failed' : 'partially_failed');
    },
    CRASH_TEST_TIMEOUT_MS,
  );
});
