/**
 * Sending and delivering against a faulty AWS and a faulty channel: every DynamoDB and
 * SQS call of the runtime goes through the fault proxy (test/support/faults). Each test
 * ends with every recipient and every counter checked exactly, the channel's calls per
 * recipient counted, and the proxy's counters showing the faults fired.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { lambdaContext } from '#infra/local/lambda-context.ts';
import { toRecord } from '#infra/local/sqs-event-source.ts';
import {
  type ChannelMessage,
  type ChannelResult,
  type DeliveryChannel,
  TransientDeliveryError,
} from '#shared/domain/channel.ts';
import { packDeliveryBatches } from '#shared/domain/delivery-batches.ts';
import { appPk, campaignSk } from '#shared/domain/keys.ts';
import { createCampaignsStore } from '#shared/store/campaigns.ts';
import type { AwsFaults } from '#test/support/faults/aws.ts';
import { faultyAws } from '#test/support/faults/aws.ts';
import { seededRandom } from '#test/support/flaky-channel.ts';
import { deliverBatchFunction } from '#test/support/functions.ts';
import {
  addRecipients,
  numberedRecipients,
  storedRecipients,
  type TestRecipient,
} from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';

/** The Lambda context a consumer invoked by the event source gets. */
const consumerContext = () => lambdaContext('deliverBatch', 90);

let faults: AwsFaults;

/** Channel calls, per campaign; a campaign may have its own channel, the others always succeed. */
const calls = new Map<string, ChannelMessage[]>();
const channels = new Map<string, DeliveryChannel>();
const channel: DeliveryChannel = {
  name: 'test',
  maxBatchSize: 100,
  async deliverBatch(batch) {
    const list = calls.get(batch.campaignId) ?? [];
    calls.set(batch.campaignId, list);
    list.push(...batch.messages);
    const own = channels.get(batch.campaignId);
    return own ? own.deliverBatch(batch) : batch.messages.map((): ChannelResult => ({ status: 'accepted' }));
  },
};

const runtime = useRuntime({
  // Chunks of 10: the 2,000 recipients make 200 claims and channel calls, for the faults to hit.
  env: { DELIVERY_RETRY_BASE_SECONDS: '0', DISPATCH_CHUNK_SIZE: '10' },
  retryDelaysMs: [200, 400],
  deliveryConcurrency: 4,
  loadDeliverHandler: async () => (await deliverBatchFunction()).createDeliverHandler({ channel }),
  wrapAws: faultyAws((f) => {
    faults = f;
  }),
});

afterEach(() => faults.clear());

type Api = ReturnType<typeof apiClient>;

async function draftCampaign(recipients: TestRecipient[]) {
  const credentials = await newApp('faulty');
  const api = apiClient(runtime.current.url, credentials);
  const template = await api.post('/api/templates', {
    name: 'Hello',
    body: 'Hi {{name}}',
    variableSchema: { name: { type: 'string' } },
  });
  const templateId: string = template.body.data.id;
  await api.put(`/api/templates/${templateId}`, { status: 'approved' });
  const campaign = await api.post('/api/campaigns', { name: 'Faulty', templateId });
  const id: string = campaign.body.data.id;
  await addRecipients(credentials.appId, id, recipients);
  return { api, id, appId: credentials.appId, templateId };
}

async function finished(api: Api, id: string, timeout = 120_000) {
  await expect
    .poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data?.status, { timeout, interval: 250 })
    .toMatch(/^(sent|partially_failed|failed)$/);
  return (await api.get(`/api/campaigns/${id}`)).body.data;
}

/** How many successful channel calls each user of the campaign got. */
function deliveredCounts(id: string, succeeded: (m: ChannelMessage) => boolean = () => true) {
  const counts = new Map<string, number>();
  for (const m of calls.get(id) ?? [])
    if (succeeded(m)) counts.set(m.userId, (counts.get(m.userId) ?? 0) + 1);
  return counts;
}

/** Users whose status is not `expected(userId)`, the first few. */
function wrongStatus(
  stored: Map<string, Record<string, any>>,
  users: string[],
  expected: (u: string) => string,
) {
  return users.filter((u) => stored.get(u)?.status !== expected(u)).slice(0, 10);
}

/**
 * A channel that fails 20% of calls transiently (seeded; never one user more than twice, so
 * every one gets through within the queue's 5 receives even when AWS faults fail a receive
 * or two) and always rejects `permanent`.
 */
function flakyChannel(permanent: ReadonlySet<string>, seed: number) {
  const random = seededRandom(seed);
  const transient = new Map<string, number>();
  const succeeded = new Set<ChannelMessage>();
  let transientFailures = 0;
  const flaky: DeliveryChannel = {
    name: 'flaky',
    maxBatchSize: 100,
    async deliverBatch(batch) {
      const open = batch.messages.filter((m) => !permanent.has(m.userId));
      // The whole call fails, so only when none of its users has failed twice already.
      if (open.length > 0 && random() < 0.2 && open.every((m) => (transient.get(m.userId) ?? 0) < 2)) {
        for (const m of open) transient.set(m.userId, (transient.get(m.userId) ?? 0) + 1);
        transientFailures += 1;
        throw new TransientDeliveryError('channel unavailable (injected)');
      }
      return batch.messages.map((m): ChannelResult => {
        if (permanent.has(m.userId))
          return { status: 'rejected', reason: `user '${m.userId}' refuses messages (injected)` };
        succeeded.add(m);
        return { status: 'accepted' };
      });
    },
  };
  return { flaky, succeeded, transientFailures: () => transientFailures };
}

describe('delivery under channel and DynamoDB faults', () => {
  it('ends every recipient sent or, for the permanent 1%, failed, with exact counts', async () => {
    onTestFailed(() => console.error(`fault seed ${faults.seed}`, faults.injected()));
    const recipients = numberedRecipients(2_000, 'd');
    const { api, id, appId } = await draftCampaign(recipients);
    const permanent = new Set(recipients.filter((_, i) => i % 100 === 7).map((r) => r.userId));
    const { flaky, succeeded, transientFailures } = flakyChannel(permanent, 99);
    channels.set(id, flaky);
    faults.set({
      dynamodb: [
        {
          operation: ['UpdateItem', 'TransactWriteItems', 'GetItem', 'Query', 'BatchWriteItem'],
          rate: 0.05,
          fault: { kind: 'throttle' },
        },
        // A write that lands but whose answer is lost: the SDK sends it again.
        {
          operation: ['UpdateItem', 'TransactWriteItems'],
          rate: 0.05,
          fault: { kind: 'drop', when: 'after' },
        },
        { operation: 'UpdateItem', rate: 0.05, fault: { kind: 'status', status: 500 } },
        { operation: 'BatchWriteItem', rate: 0.1, fault: { kind: 'unprocessed' } },
      ],
      // Not on deleting or on changing visibility: a message that misses them waits out the queue's 540 s.
      sqs: [{ operation: 'ReceiveMessage', rate: 0.1, fault: { kind: 'throttle' } }],
    });
    expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
    const campaign = await finished(api, id, 400_000).catch(async (error) => {
      console.error('not finished:', (await api.get(`/api/campaigns/${id}`)).body.data?.counts);
      throw error;
    });
    const injected = faults.injected();
    faults.clear();

    expect(campaign.status).toBe('partially_failed');
    expect(campaign.counts).toEqual({ pending: 0, queued: 0, sent: 1_980, failed: 20, skipped: 0 });
    const users = recipients.map((r) => r.userId);
    const delivered = deliveredCounts(id, (m) => succeeded.has(m));
    // Each user got the message once, or (the permanent ones) never.
    expect(users.filter((u) => (delivered.get(u) ?? 0) !== (permanent.has(u) ? 0 : 1)).slice(0, 10)).toEqual(
      [],
    );
    const { byUser, items } = await storedRecipients(appId, id);
    expect(items).toBe(2_000);
    expect(wrongStatus(byUser, users, (u) => (permanent.has(u) ? 'failed' : 'sent'))).toEqual([]);
    const failed: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { data: { userId: string; error: string }[]; meta: { next: string | null } } } =
        await api.get(
          `/api/campaigns/${id}/recipients?status=failed&limit=100${cursor ? `&cursor=${cursor}` : ''}`,
        );
      for (const r of page.body.data) {
        expect(r.error).toMatch(/refuses messages/);
        failed.push(r.userId);
      }
      cursor = page.body.meta.next;
    } while (cursor);
    expect(failed.sort()).toEqual([...permanent].sort());
    // One channel call per chunk of 10: 200 calls at least, a fifth of them failed.
    expect(transientFailures()).toBeGreaterThan(25);
    expect(injected['dynamodb:UpdateItem:throttle']).toBeGreaterThan(0);
    expect(injected['dynamodb:UpdateItem:drop']).toBeGreaterThan(0);
    expect(injected['dynamodb:TransactWriteItems:drop']).toBeGreaterThan(0);
    expect(injected['dynamodb:UpdateItem:status']).toBeGreaterThan(0);
    expect(injected['dynamodb:BatchWriteItem:unprocessed']).toBeGreaterThan(0);
  }, 450_000);
});

describe('the same SQS message twice, and out of order', () => {
  /** A `sending` campaign and its delivery messages, played by the test instead of the queue. */
  async function sendingCampaign(count: number, prefix: string) {
    const recipients = numberedRecipients(count, prefix);
    const { api, id, appId, templateId } = await draftCampaign(recipients);
    // Sending, as the send function leaves it: every recipient counted queued.
    const { transitionCampaign } = createCampaignsStore(runtime.current.table);
    await transitionCampaign(appId, id, ['draft'], 'sending');
    const { client: documents, tableName } = runtime.current.table;
    await documents.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: appPk(appId), sk: campaignSk(id) },
        UpdateExpression: 'ADD #counts.#pending :minus, #counts.#queued :n',
        ExpressionAttributeNames: { '#counts': 'counts', '#pending': 'pending', '#queued': 'queued' },
        ExpressionAttributeValues: { ':n': count, ':minus': -count },
      }),
    );
    const bodies = [
      ...packDeliveryBatches(
        { kind: 'campaign', appId, campaignId: id, templateId },
        recipients.map((r) => ({ userId: r.userId, variables: r.variables ?? {} })),
        { maxRecipients: 10 },
      ),
    ];
    const record = (n: number, receiveCount = 1): SQSRecord =>
      toRecord(
        {
          MessageId: `msg-${id}-${n}`,
          ReceiptHandle: 'not-a-real-handle',
          Body: bodies[n] as string,
          Attributes: { ApproximateReceiveCount: String(receiveCount) },
        },
        'arn:aws:sqs:us-east-1:000000000000:test',
        'us-east-1',
      );
    return { api, id, appId, record, messages: bodies.length };
  }

  it('delivers each recipient once when messages repeat and arrive out of order', async () => {
    const { api, id, appId, record, messages } = await sendingCampaign(50, 'r');
    expect(messages).toBe(5);
    const { createDeliverHandler } = await deliverBatchFunction();
    const handler = createDeliverHandler({ channel });
    const event = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

    // Out of order, with repeats of messages already done.
    for (const n of [3, 1, 3, 0, 1, 4, 2]) await handler(event(record(n)), consumerContext());
    // Late repeats of every message, after the campaign finished.
    for (let n = 4; n >= 0; n -= 1) await handler(event(record(n, 3)), consumerContext());

    const campaign = (await api.get(`/api/campaigns/${id}`)).body.data;
    expect(campaign.status).toBe('sent');
    expect(campaign.counts).toEqual({ pending: 0, queued: 0, sent: 50, failed: 0, skipped: 0 });
    const delivered = deliveredCounts(id);
    expect(delivered.size).toBe(50);
    expect([...delivered.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    const { byUser, items } = await storedRecipients(appId, id);
    expect(items).toBe(50);
    expect(wrongStatus(byUser, [...delivered.keys()], () => 'sent')).toEqual([]);
  });

  it('delivers and counts each recipient once when its claim and its count are cancelled by a TransactionConflict beside a failed condition', async () => {
    onTestFailed(() => console.error(`fault seed ${faults.seed}`, faults.injected()));
    const { api, id, appId, record, messages } = await sendingCampaign(20, 'k');
    expect(messages).toBe(2);
    const { createDeliverHandler } = await deliverBatchFunction();
    const handler = createDeliverHandler({ channel });
    /** Receives message `n` as SQS does: again, while the handler hands it back. */
    const receive = async (n: number) => {
      let receives = 0;
      let failures = 1;
      while (failures > 0 && receives < 5) {
        receives += 1;
        const answer = await handler({ Records: [record(n, receives)] }, consumerContext());
        failures = answer?.batchItemFailures.length ?? 0;
      }
      return receives;
    };
    const before = faults.injected()['dynamodb:TransactWriteItems:cancel'] ?? 0;
    // DynamoDB cancels a transaction that met another one on an item with TransactionConflict
    // for that item, and may report a condition it evaluated as failed beside it: nothing was
    // written, and the same transaction may pass when sent again.
    const cancel = { kind: 'cancel', codes: ['ConditionalCheckFailed', 'TransactionConflict'] } as const;
    faults.set({
      dynamodb: [
        // A claim: the campaign's "still sending" check beside a conflict on the chunk's item.
        { operation: 'TransactWriteItems', bodyIncludes: '":sending"', rate: 1, limit: 1, fault: cancel },
        // A count: the chunk's "still settling" condition beside a conflict on the counters.
        { operation: 'TransactWriteItems', bodyIncludes: '":done"', rate: 1, limit: 1, fault: cancel },
      ],
    });
    const receives = [await receive(0), await receive(1)];
    const injected = (faults.injected()['dynamodb:TransactWriteItems:cancel'] ?? 0) - before;
    faults.clear();

    expect(injected).toBe(2);
    const campaign = (await api.get(`/api/campaigns/${id}`)).body.data;
    expect(campaign.counts).toEqual({ pending: 0, queued: 0, sent: 20, failed: 0, skipped: 0 });
    expect(campaign.status).toBe('sent');
    const delivered = deliveredCounts(id);
    expect(delivered.size).toBe(20);
    expect([...delivered.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    const { byUser, items } = await storedRecipients(appId, id);
    expect(items).toBe(20);
    expect(wrongStatus(byUser, [...delivered.keys()], () => 'sent')).toEqual([]);
    // Each cancelled transaction was sent again in place: neither message was handed back.
    expect(receives).toEqual([1, 1]);
  });

  it('hands a message back at once when its claim is cancelled for a reason no retry can fix, then delivers it once', async () => {
    onTestFailed(() => console.error(`fault seed ${faults.seed}`, faults.injected()));
    const { api, id, record } = await sendingCampaign(10, 'v');
    const { createDeliverHandler } = await deliverBatchFunction();
    const handler = createDeliverHandler({ channel });
    const before = faults.injected()['dynamodb:TransactWriteItems:cancel'] ?? 0;
    faults.set({
      dynamodb: [
        {
          operation: 'TransactWriteItems',
          bodyIncludes: '":sending"',
          rate: 1,
          limit: 10,
          fault: { kind: 'cancel', codes: ['None', 'ValidationError'] },
        },
      ],
    });
    const first = await handler({ Records: [record(0, 1)] }, consumerContext());
    const injected = (faults.injected()['dynamodb:TransactWriteItems:cancel'] ?? 0) - before;
    faults.clear();

    // Sent once, not six times, and the message handed back for its next receive.
    expect(injected).toBe(1);
    expect(first?.batchItemFailures).toHaveLength(1);
    expect(calls.get(id) ?? []).toEqual([]);
    const second = await handler({ Records: [record(0, 2)] }, consumerContext());
    expect(second?.batchItemFailures).toEqual([]);
    expect(deliveredCounts(id).size).toBe(10);
    expect([...deliveredCounts(id).values()].filter((n) => n !== 1)).toEqual([]);
    const campaign = (await api.get(`/api/campaigns/${id}`)).body.data;
    expect(campaign.counts).toEqual({ pending: 0, queued: 0, sent: 10, failed: 0, skipped: 0 });
  });

  it('never delivers twice when receives of one message run at the same time, and counts what it stored', async () => {
    const { api, id, appId, record } = await sendingCampaign(50, 'q');
    const { createDeliverHandler, DELIVERY_OUTCOME_UNKNOWN } = await deliverBatchFunction();
    const handler = createDeliverHandler({ channel });
    const event = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

    // The same message twice in one batch, two receives of one message at once, then everything late.
    await handler(event(record(3), record(1), record(3)), consumerContext());
    await Promise.all([
      handler(event(record(0)), consumerContext()),
      handler(event(record(0, 2)), consumerContext()),
    ]);
    await handler(event(record(4), record(2)), consumerContext());
    for (let n = 4; n >= 0; n -= 1) await handler(event(record(n, 3)), consumerContext());

    // A receive that finds another's claim unconfirmed cannot tell it from a dead one: such a
    // recipient may end failed (outcome unknown), but nobody is called twice and nothing stays open.
    const delivered = deliveredCounts(id);
    expect([...delivered.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    const { byUser, items } = await storedRecipients(appId, id);
    expect(items).toBe(50);
    const statuses = [...byUser.values()];
    const sent = statuses.filter((r) => r.status === 'sent');
    const failed = statuses.filter((r) => r.status === 'failed');
    expect(sent.length + failed.length).toBe(50);
    for (const r of failed) expect(r.error).toBe(DELIVERY_OUTCOME_UNKNOWN);
    // Messages 1, 2 and 4 (10 recipients each) never race another receive: they are sent.
    expect(sent.length).toBeGreaterThanOrEqual(30);
    // Every sent recipient was delivered, once (a failed one may have been delivered too: outcome unknown).
    expect(sent.filter((r) => delivered.get(r.userId) !== 1).map((r) => r.userId)).toEqual([]);
    const campaign = (await api.get(`/api/campaigns/${id}`)).body.data;
    expect(campaign.counts).toEqual({
      pending: 0,
      queued: 0,
      sent: sent.length,
      failed: failed.length,
      skipped: 0,
    });
    expect(campaign.status).toBe(
      failed.length === 0 ? 'sent' : failed.length === 50 ? 'failed' : 'partially_failed',
    );
  });
});
