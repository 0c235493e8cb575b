/**
 * Crash test of the deliver consumer (functions/deliver-batch.ts): the real handler runs
 * in child processes on messages received from the delivery queue, each SIGKILLed at one
 * seeded point of a chunk's life: right after its claim (channel not called), right after
 * the channel answered (outcome not written), right after its outcome was written (not
 * projected or counted), and right before its count. SQS brings the messages back after
 * their visibility timeout and they run to the end. Nothing is delivered twice, nobody is
 * lost, and the counters match the recipients.
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, describe, expect, it } from 'vitest';
import { chunksOf, parseDeliveryBatch } from '#shared/domain/delivery-batches.ts';
import {
  CRASH_TEST_TIMEOUT_MS,
  crashRandom,
  killWhen,
  runHandler,
  startHandler,
} from '#test/support/crash/child.ts';
import { deleteMessages, queueDepth, receiveMessages, sqsEvent } from '#test/support/crash/queue.ts';
import { allRecipients, outboxLines, storedCampaign } from '#test/support/crash/state.ts';
import { ledgerItems } from '#test/support/recipients.ts';
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
/** The consumer's claim of a chunk: the transaction that puts its ledger item `claimed`. */
const CLAIM = 'TransactWriteItems~"state":"claimed"';
/** The chunk's outcome: its ledger item `claimed` → `settling`. */
const OUTCOME = 'UpdateItem~":settling"';
/** The chunk's count: its ledger item `settling` → `done`, with the counters. */
const COUNT = 'TransactWriteItems~":done"';

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

      // Dispatch made one message per shard (one chunk each): four consumers get four each.
      const messageCount = await queueDepth();
      const first = await receiveMessages(messageCount, VISIBILITY_SECONDS);
      expect(first.length, seedText).toBe(messageCount);
      expect(messageCount, seedText).toBeGreaterThanOrEqual(8);
      const quarter = Math.ceil(messageCount / 4);
      const batches = [0, 1, 2, 3].map((i) => first.slice(i * quarter, (i + 1) * quarter));
      const chunksIn = (messages: typeof first) =>
        messages.flatMap((m) => chunksOf(parseDeliveryBatch(m.Body ?? '')));

      // 1. Four consumers at once, each killed at a seeded chunk of its own batch:
      // A right after a claim, B right after the channel answered, C right after the
      // outcome was written, D right before the count.
      const points = batches.map((batch) => int(1, chunksIn(batch).length));
      const gates = [
        `${CLAIM}:${points[0]}:after`,
        `${OUTCOME}:${points[1]}:before`,
        `${OUTCOME}:${points[2]}:after`,
        `${COUNT}:${points[3]}:before`,
      ];
      const killed = await Promise.all(
        batches.map(async (batch, i) =>
          killWhen(startHandler('deliverBatch', await sqsEvent(batch), { CRASH_GATE: gates[i] as string })),
        ),
      );
      expect(
        killed.map((k, i) => `${gates[i]}: ${k.killed ? 'killed' : k.stderr}`),
        seedText,
      ).toEqual(gates.map((g) => `${g}: killed`));
      const linesAfterKill = await outboxLines(outbox, campaignId);
      const ledgerAfterKill = await ledgerItems(credentials.appId, campaignId);
      // A's chunk: claimed, its channel never called.
      const claimed = chunksIn(first).filter((c) => ledgerAfterKill.get(c.id)?.state === 'claimed');
      const claimedNotDelivered = claimed
        .filter((c) => c.recipients.every((r) => !linesAfterKill.has(r.userId)))
        .flatMap((c) => c.recipients.map((r) => r.userId));
      expect(claimedNotDelivered.length, `${seedText}: claimed, channel not called`).toBeGreaterThan(0);
      // B's chunk: claimed and delivered, its outcome never written.
      const claimedDelivered = claimed.filter((c) =>
        c.recipients.every((r) => linesAfterKill.get(r.userId) === 1),
      );
      expect(claimedDelivered.length, `${seedText}: delivered, outcome not written`).toBeGreaterThan(0);
      // C's and D's chunks: outcome written, not counted.
      const settling = chunksIn(first).filter((c) => ledgerAfterKill.get(c.id)?.state === 'settling');
      expect(settling.length, `${seedText}: outcome written, not counted`).toBeGreaterThanOrEqual(2);
      const settlingUsers = settling.flatMap((c) => c.recipients.map((r) => r.userId));

      // 2. SQS brings the same messages back after their visibility timeout; they run to the end.
      const second = await receiveMessages(messageCount, 60);
      expect(second.map((m) => m.MessageId).sort(), seedText).toEqual(first.map((m) => m.MessageId).sort());
      expect(new Set(second.map((m) => m.Attributes?.ApproximateReceiveCount)), seedText).toEqual(
        new Set(['2']),
      );
      const reruns = await Promise.all(
        [0, 1, 2, 3].map(async (i) =>
          runHandler('deliverBatch', await sqsEvent(second.slice(i * quarter, (i + 1) * quarter))),
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

      // The chunks whose outcome was written before the kill end sent, delivered once, never unknown.
      for (const userId of settlingUsers) {
        const item = items.find((r) => r.userId === userId);
        expect({ userId, status: item?.status, lines: lines.get(userId) ?? 0 }, seedText).toEqual({
          userId,
          status: 'sent',
          lines: 1,
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
