/**
 * Cancel forced into the one window where it could meet dispatch: a page is on the
 * queue, and its checkpoint and counters (`pending` → `queued`) are not yet committed.
 * The send function's dispatch runs here, in the test, with its commit held at a gate;
 * the cancel and its sweep run as deployed (the API and the send function of the local
 * runtime); the consumers are driven by hand, so each order is the one the test names.
 *
 * By reading of the code, the sweep could count such a page `pending` → `skipped` while
 * the consumers count it `queued` → `sent`, leaving `pending: +k` and `queued: −k`. Each
 * test asserts every counter on its own, and every stored status, so such a pair fails.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { lambdaContext } from '#infra/local/lambda-context.ts';
import type { SendResult } from '#shared/delivery/dispatch.ts';
import { deleteMessages, queueDepth, receiveMessages, sqsEvent } from '#test/support/crash/queue.ts';
import { outboxLines } from '#test/support/crash/state.ts';
import { dispatchGate } from '#test/support/dispatch-gate.ts';
import { deliverBatchFunction, sendCampaignFunction } from '#test/support/functions.ts';
import { addRecipients, allRecipients, numberedRecipients } from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { draftCampaign } from '#test/support/uploads.ts';

const outbox = join(mkdtempSync(join(tmpdir(), 'cancel-interleaving-')), 'outbox.jsonl');
const PAGE_SIZE = 100;
const TOTAL = 3 * PAGE_SIZE;
/** Each page is one message of four chunks. */
const CHUNK_SIZE = 25;

/** The campaigns whose send the test dispatches itself (the cancel's sweep runs as deployed). */
const held = new Set<string>();
const runtime = useRuntime({
  deliveryConcurrency: 0,
  env: {
    OUTBOX_PATH: outbox,
    RECIPIENT_SHARDS: '1',
    DISPATCH_PAGE_SIZE: String(PAGE_SIZE),
    DISPATCH_CHUNK_SIZE: String(CHUNK_SIZE),
    DISPATCH_MARK_QUEUED: 'true',
  },
  interceptInvoke: (name, event) => {
    const { campaignId } = event as { campaignId: string };
    return name === 'sendCampaign' && held.delete(campaignId);
  },
});

/** A campaign of TOTAL recipients, sent through the API, its dispatch held at the first commit. */
async function heldDispatch() {
  const credentials = await newApp('interleave');
  const api = apiClient(runtime.current.url, credentials);
  const id = await draftCampaign(api, { name: { type: 'string' } });
  await addRecipients(credentials.appId, id, numberedRecipients(TOTAL));

  held.add(id);
  expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
  expect(held.has(id)).toBe(false);
  const gate = dispatchGate();
  const { createSendDispatcher } = await sendCampaignFunction();
  const dispatched: Promise<{ result: SendResult }> = createSendDispatcher(gate.wrap).sendCampaign(
    credentials.appId,
    id,
  );
  dispatched.catch(() => undefined);
  await gate.reached;
  return { api, appId: credentials.appId, id, gate, dispatched };
}

/** The consumer, as the event source mapping runs it, on every message now on the queue. */
async function consumeAll() {
  const { handler } = (await deliverBatchFunction()) as {
    handler: (event: SQSEvent, context: ReturnType<typeof lambdaContext>) => Promise<SQSBatchResponse>;
  };
  const messages = await receiveMessages(await queueDepth(), 60, 10_000);
  for (let i = 0; i < messages.length; i += 10) {
    const batch = messages.slice(i, i + 10);
    const response = await handler(await sqsEvent(batch), lambdaContext('deliverBatch', 90));
    expect(response.batchItemFailures).toEqual([]);
    await deleteMessages(batch);
  }
  return messages.length;
}

const counts = async (api: ReturnType<typeof apiClient>, id: string) =>
  (await api.get(`/api/campaigns/${id}`)).body.data.counts;

async function statusesOf(appId: string, id: string) {
  const byStatus = new Map<string, string[]>();
  for (const r of await allRecipients(appId, id))
    byStatus.set(r.status, [...(byStatus.get(r.status) ?? []), r.userId]);
  return byStatus;
}

describe('cancel while a dispatched page is not yet committed', () => {
  it('counts exactly when the consumers deliver the page before the sweep passes it', async () => {
    const { api, appId, id, gate, dispatched } = await heldDispatch();
    // The first page is on the queue, uncommitted: the consumers deliver all of it.
    expect(await consumeAll()).toBe(1);
    expect((await outboxLines(outbox, id)).size).toBe(PAGE_SIZE);

    // The cancel, and its sweep (the send function, as deployed), to the end.
    expect((await api.post(`/api/campaigns/${id}/cancel`)).status).toBe(200);
    await runtime.current.idle();
    // Then the held commit: it finds the checkpoint moved by the sweep, and stops.
    gate.open();
    const { result } = await dispatched;
    expect(result.enqueuedRecipients).toBe(0);
    expect(await consumeAll()).toBe(0);

    expect(await counts(api, id)).toEqual({
      pending: 0,
      queued: 0,
      sent: PAGE_SIZE,
      failed: 0,
      skipped: TOTAL - PAGE_SIZE,
    });
    const delivered = await outboxLines(outbox, id);
    expect([...delivered.values()].filter((n) => n > 1)).toEqual([]);
    const stored = await statusesOf(appId, id);
    expect([...stored.keys()].sort()).toEqual(['sent', 'skipped']);
    expect(new Set(stored.get('sent'))).toEqual(new Set(delivered.keys()));
    expect(stored.get('skipped')).toHaveLength(TOTAL - PAGE_SIZE);
    expect((await api.get(`/api/campaigns/${id}`)).body.data.status).toBe('cancelled');
  });

  it('counts exactly when the sweep passes the page before the consumers get it', async () => {
    const { api, appId, id, gate, dispatched } = await heldDispatch();
    // The cancel's sweep settles the uncommitted page skipped while its message waits on the queue.
    expect((await api.post(`/api/campaigns/${id}/cancel`)).status).toBe(200);
    await runtime.current.idle();
    gate.open();
    const { result } = await dispatched;
    expect(result.enqueuedRecipients).toBe(0);
    // The consumers then get that message: every chunk has its ledger item, nobody is delivered.
    expect(await consumeAll()).toBe(1);

    expect(await counts(api, id)).toEqual({ pending: 0, queued: 0, sent: 0, failed: 0, skipped: TOTAL });
    expect((await outboxLines(outbox, id)).size).toBe(0);
    const stored = await statusesOf(appId, id);
    expect([...stored.keys()]).toEqual(['skipped']);
    expect(stored.get('skipped')).toHaveLength(TOTAL);
  });

  it('counts exactly when the held commit lands before the cancel, and the consumers come last', async () => {
    const { api, appId, id, gate, dispatched } = await heldDispatch();
    // The held commit lands, and dispatch goes on; the cancel stops it between pages.
    gate.open();
    expect((await api.post(`/api/campaigns/${id}/cancel`)).status).toBe(200);
    const { result } = await dispatched;
    await runtime.current.idle();
    expect(result.enqueuedRecipients).toBeGreaterThanOrEqual(PAGE_SIZE);
    // Every page sent (committed, or found swept when it came to commit) is one message.
    // Claimed only after the cancel answered: none is delivered.
    expect(await consumeAll()).toBe(result.enqueuedMessages);

    expect(await counts(api, id)).toEqual({ pending: 0, queued: 0, sent: 0, failed: 0, skipped: TOTAL });
    expect((await outboxLines(outbox, id)).size).toBe(0);
    const stored = await statusesOf(appId, id);
    expect([...stored.keys()]).toEqual(['skipped']);
  });
});
