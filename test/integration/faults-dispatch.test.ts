/**
 * The send function against a faulty SQS: every call goes through the fault proxy
 * (test/support/faults). No consumer runs, so the test reads the queue itself and
 * checks every recipient is on it, and the counters exactly.
 */
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it, onTestFailed } from 'vitest';
import { parseDeliveryBatch } from '#shared/domain/delivery-batches.ts';
import { appPk } from '#shared/domain/keys.ts';
import { createDispatchStore } from '#shared/store/dispatch.ts';
import type { AwsFaults } from '#test/support/faults/aws.ts';
import { faultyAws } from '#test/support/faults/aws.ts';
import { addRecipients, numberedRecipients } from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { draftCampaign } from '#test/support/uploads.ts';

let faults: AwsFaults;
const runtime = useRuntime({
  deliveryConcurrency: 0,
  retryDelaysMs: [200, 400],
  wrapAws: faultyAws((f) => {
    faults = f;
  }),
});

/** Every message on the delivery queue, read and deleted: how often each user id is on it, and in how many messages. */
async function drainQueue() {
  const sqs = new SQSClient({});
  const perUser = new Map<string, number>();
  const bodies = new Map<string, number>();
  let empty = 0;
  while (empty < 3) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: process.env.DELIVERY_QUEUE_URL,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 600,
      }),
    );
    if (Messages.length === 0) {
      empty += 1;
      continue;
    }
    empty = 0;
    for (const message of Messages) {
      const body = message.Body ?? '';
      bodies.set(body, (bodies.get(body) ?? 0) + 1);
      for (const r of parseDeliveryBatch(body).recipients)
        perUser.set(r.userId, (perUser.get(r.userId) ?? 0) + 1);
    }
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: process.env.DELIVERY_QUEUE_URL,
        Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
      }),
    );
  }
  sqs.destroy();
  return { perUser, bodies };
}

describe('dispatch under SQS faults', () => {
  it('puts all 50,000 recipients on the queue with 10% of SendMessageBatch entries failing and a throttling burst', async () => {
    onTestFailed(() => console.error(`fault seed ${faults.seed} (FAULT_SEED replays it)`, faults.injected()));
    const credentials = await newApp('dispatch');
    const api = apiClient(runtime.current.url, credentials);
    const template = await api.post('/api/templates', {
      name: 'T',
      body: 'Hi {{name}}',
      variableSchema: { name: { type: 'string' } },
    });
    await api.put(`/api/templates/${template.body.data.id}`, { status: 'approved' });
    const { id } = (await api.post('/api/campaigns', { name: 'C', templateId: template.body.data.id })).body
      .data;
    const recipients = numberedRecipients(50_000);
    await addRecipients(credentials.appId, id, recipients);

    faults.set({
      sqs: [
        // A burst first: SendMessageBatch refused through all of the SDK's retries, several times over.
        { operation: 'SendMessageBatch', rate: 1, limit: 12, fault: { kind: 'throttle' } },
        { operation: 'SendMessageBatch', rate: 0.1, fault: { kind: 'failEntries' } },
        // Sent, but the answer is lost: the SDK sends the batch again, so the queue holds some messages twice.
        { operation: 'SendMessageBatch', rate: 0.1, fault: { kind: 'drop', when: 'after' } },
      ],
      dynamodb: [{ rate: 0.05, fault: { kind: 'throttle' } }],
    });
    expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
    await expect
      .poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data?.counts, {
        timeout: 300_000,
        interval: 500,
      })
      .toEqual({ pending: 0, queued: 50_000, sent: 0, failed: 0, skipped: 0 });
    await runtime.current.idle();
    const injected = faults.injected();
    const entriesFailed = faults.sqs.handedBack().SendMessageBatch ?? 0;
    faults.clear();

    const campaign = (await api.get(`/api/campaigns/${id}`)).body.data;
    expect(campaign).toMatchObject({ status: 'sending', recipientCount: 50_000 });
    const { perUser, bodies } = await drainQueue();
    // Every recipient is on the queue; one twice only in a message the lost answers sent twice.
    const missing = recipients.filter((r) => !perUser.has(r.userId)).map((r) => r.userId);
    expect(missing.slice(0, 10), `${missing.length} recipients never put on the queue`).toEqual([]);
    expect(perUser.size).toBe(50_000);
    const repeatedBodies = [...bodies.values()].filter((n) => n > 1).length;
    const repeatedUsers = [...perUser.values()].filter((n) => n > 1).length;
    expect(repeatedUsers).toBeLessThanOrEqual(repeatedBodies * 100);
    for (const body of bodies.keys()) {
      // A repeat is a whole message again, never a recipient in two different messages.
      for (const r of parseDeliveryBatch(body).recipients) {
        if ((perUser.get(r.userId) ?? 0) > 1) expect(bodies.get(body)).toBe(perUser.get(r.userId));
      }
    }
    expect(injected['sqs:SendMessageBatch:throttle']).toBe(12);
    expect(entriesFailed).toBeGreaterThan(20);
    expect(injected['sqs:SendMessageBatch:drop']).toBeGreaterThan(0);
    expect(
      Object.keys(injected).filter((k) => k.startsWith('dynamodb:') && k.endsWith(':throttle')),
    ).not.toEqual([]);
  }, 360_000);

  it('commits a page whose checkpoint transaction is cancelled by a TransactionConflict, and moves the counters once', async () => {
    const credentials = await newApp('dispatch');
    const api = apiClient(runtime.current.url, credentials);
    const id = await draftCampaign(api, {});
    await addRecipients(credentials.appId, id, numberedRecipients(40));
    const { commitDispatchedPage, readCheckpoint } = createDispatchStore(runtime.current.table);
    const before = faults.injected()['dynamodb:TransactWriteItems:cancel'] ?? 0;
    // Cancelled twice as DynamoDB cancels the loser of a conflict: nothing written, no condition failed.
    faults.set({
      dynamodb: [{ operation: 'TransactWriteItems', rate: 1, limit: 2, fault: { kind: 'cancel' } }],
    });
    await commitDispatchedPage(credentials.appId, id, 0, undefined, 'page-end', 7);
    const injected = (faults.injected()['dynamodb:TransactWriteItems:cancel'] ?? 0) - before;
    faults.clear();

    expect(injected).toBe(2);
    expect(await readCheckpoint(credentials.appId, id, 0)).toBe('page-end');
    expect((await api.get(`/api/campaigns/${id}`)).body.data.counts).toEqual({
      pending: 33,
      queued: 7,
      sent: 0,
      failed: 0,
      skipped: 0,
    });
  });

  /** A campaign of 40 recipients and a sweep of two chunks of its shard 0, as a cancel's sweep makes them. */
  async function sweepable() {
    const credentials = await newApp('dispatch');
    const api = apiClient(runtime.current.url, credentials);
    const id = await draftCampaign(api, {});
    await addRecipients(credentials.appId, id, numberedRecipients(40));
    const chunks = [1, 2].map((n) => ({
      userIds: [`u${n}`],
      item: { pk: appPk(credentials.appId), sk: `TESTCHUNK#${id}#${n}`, state: 'settling' },
    }));
    const counts = async () => (await api.get(`/api/campaigns/${id}`)).body.data.counts;
    return { appId: credentials.appId, id, chunks, counts };
  }

  /** Runs `sweep` with every TransactWriteItems cancelled with `codes`; the error it throws and the cancellations sent. */
  async function cancelledSweep(codes: readonly string[], sweep: () => Promise<unknown>) {
    const before = faults.injected()['dynamodb:TransactWriteItems:cancel'] ?? 0;
    faults.set({
      dynamodb: [{ operation: 'TransactWriteItems', rate: 1, fault: { kind: 'cancel', codes } }],
    });
    const error = await sweep().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    const injected = (faults.injected()['dynamodb:TransactWriteItems:cancel'] ?? 0) - before;
    faults.clear();
    return { error, injected };
  }

  it('throws at once, and moves nothing, when a sweep is cancelled for a reason no retry can fix', async () => {
    const { appId, id, chunks, counts } = await sweepable();
    const { sweepPage, readCheckpoint } = createDispatchStore(runtime.current.table);
    const { error, injected } = await cancelledSweep(['None', 'None', 'ValidationError'], () =>
      sweepPage(appId, id, 0, undefined, 'page-end', chunks),
    );

    expect(error).toMatchObject({ name: 'TransactionCanceledException' });
    expect(error?.message).toContain('ValidationError');
    expect(injected).toBe(1);
    expect(await readCheckpoint(appId, id, 0)).toBeUndefined();
    expect(await counts()).toMatchObject({ pending: 40, queued: 0, skipped: 0 });
  });

  it('gives up a sweep cancelled by a conflict on every attempt, after a bounded number of them, naming why', async () => {
    const { appId, id, chunks, counts } = await sweepable();
    const { sweepPage, readCheckpoint } = createDispatchStore(runtime.current.table);
    const { error, injected } = await cancelledSweep(['TransactionConflict'], () =>
      sweepPage(appId, id, 0, undefined, 'page-end', chunks),
    );

    // One attempt per chunk the ledger could already hold, and 6 for conflicts and throttling.
    expect(injected).toBe(8);
    expect(error?.message).toBe(
      "sweep of shard 0: the page's transaction was cancelled 8 times in a row, the last time by TransactionConflict, None, None, None; nothing of the page was written and its checkpoint did not move",
    );
    expect(error?.cause).toMatchObject({ name: 'TransactionCanceledException' });
    expect(await readCheckpoint(appId, id, 0)).toBeUndefined();
    expect(await counts()).toMatchObject({ pending: 40, queued: 0, skipped: 0 });
  });
});
