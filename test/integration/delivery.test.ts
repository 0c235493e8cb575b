import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { lambdaContext } from '#infra/local/lambda-context.ts';
import { toRecord } from '#infra/local/sqs-event-source.ts';
import {
  type ChannelBatch,
  type ChannelResult,
  type DeliveryChannel,
  TransientDeliveryError,
} from '#shared/domain/channel.ts';
import { packDeliveryBatches } from '#shared/domain/delivery-batches.ts';
import { createCampaignsStore } from '#shared/store/campaigns.ts';
import { createFlakyChannel, type FlakyCall } from '#test/support/flaky-channel.ts';
import { deliverBatchFunction } from '#test/support/functions.ts';
import { addRecipients, numberedRecipients, type TestRecipient } from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';

/** The Lambda context a consumer invoked by the event source gets. */
const consumerContext = () => lambdaContext('deliverBatch', 90);

/** A batch with users named `stuck…` fails transiently on every try; the rest go through the flaky channel. */
const flaky = createFlakyChannel({ transientRate: 0.1, seed: 7, permanentUserIds: ['u3', 'u17', 'u42'] });
const stuckCalls: FlakyCall[] = [];
const channel: DeliveryChannel = {
  name: 'test',
  maxBatchSize: 100,
  async deliverBatch(batch) {
    const stuck = batch.messages.filter((m) => m.userId.startsWith('stuck'));
    if (stuck.length > 0) {
      stuckCalls.push(...stuck.map((m) => ({ appId: batch.appId, campaignId: batch.campaignId, ...m })));
      throw new TransientDeliveryError('receiver down (injected)');
    }
    return flaky.deliverBatch(batch);
  },
};

/** A channel accepting everything, recording each message with its batch. */
function countingChannel(calls: FlakyCall[]): DeliveryChannel {
  return {
    name: 'counting',
    maxBatchSize: 100,
    async deliverBatch(batch: ChannelBatch) {
      calls.push(...batch.messages.map((m) => ({ appId: batch.appId, campaignId: batch.campaignId, ...m })));
      return batch.messages.map((): ChannelResult => ({ status: 'accepted' }));
    },
  };
}

const runtime = useRuntime({
  env: { DELIVERY_RETRY_BASE_SECONDS: '0' },
  loadDeliverHandler: async () => (await deliverBatchFunction()).createDeliverHandler({ channel }),
});

type Api = ReturnType<typeof apiClient>;

async function draftCampaign(recipients: TestRecipient[]) {
  const credentials = await newApp('deliver');
  const api = apiClient(runtime.current.url, credentials);
  const template = await api.post('/api/templates', {
    name: 'Code',
    body: 'Hi {{name}}, your code is {{code}}',
    variableSchema: { name: { type: 'string' }, code: { type: 'string', default: 'none' } },
  });
  const templateId: string = template.body.data.id;
  await api.put(`/api/templates/${templateId}`, { status: 'approved' });
  const campaign = await api.post('/api/campaigns', { name: 'Codes', templateId });
  const id: string = campaign.body.data.id;
  await addRecipients(credentials.appId, id, recipients);
  return { api, id, appId: credentials.appId, templateId };
}

async function finished(api: Api, id: string) {
  await expect
    .poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data.status, {
      timeout: 60_000,
      interval: 250,
    })
    .not.toBe('sending');
  return (await api.get(`/api/campaigns/${id}`)).body.data;
}

const sqs = () => new SQSClient({});

describe('deliver consumer', () => {
  it('ends partially_failed with exact counts when the channel fails some recipients, and lists the failures', async () => {
    const { api, id } = await draftCampaign(numberedRecipients(300));
    expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
    const campaign = await finished(api, id);
    expect(campaign.status).toBe('partially_failed');
    expect(campaign.counts).toEqual({ pending: 0, queued: 0, sent: 297, failed: 3, skipped: 0 });

    const failed = await api.get(`/api/campaigns/${id}/recipients?status=failed`);
    expect(failed.body.data.map((r: { userId: string }) => r.userId).sort()).toEqual(['u17', 'u3', 'u42']);
    expect(failed.body.data[0].error).toMatch(/does not accept messages/);
    const calls = flaky.calls.filter((c) => c.campaignId === id);
    // Transient failures were retried through the queue; nobody got a message twice.
    expect(calls.length).toBeGreaterThan(300);
    const delivered = flaky.delivered.filter((c) => c.campaignId === id);
    expect(delivered).toHaveLength(297);
    expect(new Set(delivered.map((c) => c.userId)).size).toBe(297);
  });

  it('fails a recipient with the missing variable named, without calling the channel', async () => {
    const { api, id } = await draftCampaign([
      { userId: 'ok', variables: { name: 'Ada' } },
      { userId: 'noname' },
    ]);
    await api.post(`/api/campaigns/${id}/send`);
    const campaign = await finished(api, id);
    expect(campaign.status).toBe('partially_failed');
    const failed = (await api.get(`/api/campaigns/${id}/recipients?status=failed`)).body.data;
    expect(failed).toEqual([
      expect.objectContaining({ userId: 'noname', error: expect.stringMatching(/'name'/) }),
    ]);
    expect(flaky.calls.filter((c) => c.campaignId === id).map((c) => c.userId)).toEqual(['ok']);
  });

  it('gives up on a recipient that keeps failing after 5 receives, and moves its message to the DLQ', async () => {
    const { api, id } = await draftCampaign([{ userId: 'stuck1', variables: { name: 'S' } }]);
    await api.post(`/api/campaigns/${id}/send`);
    const campaign = await finished(api, id);
    expect(campaign.status).toBe('failed');
    expect(campaign.counts).toMatchObject({ sent: 0, failed: 1, queued: 0 });
    const [recipient] = (await api.get(`/api/campaigns/${id}/recipients`)).body.data;
    expect(recipient).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^gave up after 5 attempts: receiver down/),
    });
    expect(stuckCalls.filter((c) => c.campaignId === id)).toHaveLength(5);
    await expect.poll(() => dlqBodies(), { timeout: 20_000 }).toContainEqual(expect.stringContaining(id));
  });

  it('moves a message that does not parse to the DLQ', async () => {
    await sqs().send(
      new SendMessageCommand({
        QueueUrl: process.env.DELIVERY_QUEUE_URL,
        MessageBody: '{"v":1,"kind":"poison"}',
      }),
    );
    await expect.poll(() => dlqBodies(), { timeout: 20_000 }).toContain('{"v":1,"kind":"poison"}');
  });

  it('never delivers twice when a consumer crashes after marking recipients but before acknowledging', async () => {
    const { api, id, record } = await sendingCampaignMessage(3, 'c');
    const calls: FlakyCall[] = [];
    const counting = countingChannel(calls);
    const { createDeliverHandler } = await deliverBatchFunction();
    const crashing = createDeliverHandler({
      channel: counting,
      beforeCounting: () => {
        throw new Error('crash (injected)');
      },
    });
    const healthy = createDeliverHandler({ channel: counting });
    const event = (n: number): SQSEvent => ({ Records: [record(n)] });

    expect((await crashing(event(1), consumerContext())).batchItemFailures).toEqual([
      { itemIdentifier: `msg-${id}` },
    ]);
    expect(calls).toHaveLength(3);
    expect((await api.get(`/api/campaigns/${id}`)).body.data.counts.sent).toBe(0);

    expect((await healthy(event(2), consumerContext())).batchItemFailures).toEqual([]);
    expect((await healthy(event(3), consumerContext())).batchItemFailures).toEqual([]);
    expect(calls).toHaveLength(3);
    const campaign = (await api.get(`/api/campaigns/${id}`)).body.data;
    expect(campaign.status).toBe('sent');
    expect(campaign.counts.sent).toBe(3);
  });

  it('leaves recipients for the next receive when time runs short, and fails them on the last', async () => {
    const { api, id, record } = await sendingCampaignMessage(2, 't');
    const calls: FlakyCall[] = [];
    const { createDeliverHandler } = await deliverBatchFunction();
    const handler = createDeliverHandler({ channel: countingChannel(calls) });
    const shortOfTime = { ...consumerContext(), getRemainingTimeInMillis: () => 5_000 };

    expect((await handler({ Records: [record(1)] }, shortOfTime)).batchItemFailures).toHaveLength(1);
    expect(calls).toHaveLength(0);
    expect((await api.get(`/api/campaigns/${id}`)).body.data.status).toBe('sending');

    expect((await handler({ Records: [record(5)] }, shortOfTime)).batchItemFailures).toHaveLength(1);
    const campaign = (await api.get(`/api/campaigns/${id}`)).body.data;
    expect(campaign.status).toBe('failed');
    expect(campaign.counts.failed).toBe(2);
    const [failed] = (await api.get(`/api/campaigns/${id}/recipients?status=failed`)).body.data;
    expect(failed.error).toMatch(/^gave up after 5 attempts: out of time/);
  });
});

/**
 * A `sending` campaign of `count` recipients and its one delivery message, played by the
 * test instead of the queue: `record(n)` is the message on its n-th receive.
 */
async function sendingCampaignMessage(count: number, prefix: string) {
  const recipients = numberedRecipients(count, prefix);
  const { api, id, appId, templateId } = await draftCampaign(recipients);
  // Sending, without the send function.
  const { transitionCampaign } = createCampaignsStore(runtime.current.table);
  await transitionCampaign(appId, id, ['draft'], 'sending');
  const [body] = [
    ...packDeliveryBatches(
      { kind: 'campaign', appId, campaignId: id, templateId },
      recipients.map((r) => ({ userId: r.userId, variables: r.variables ?? {} })),
    ),
  ];
  const record = (receiveCount: number): SQSRecord =>
    toRecord(
      {
        MessageId: `msg-${id}`,
        ReceiptHandle: 'not-a-real-handle',
        Body: body as string,
        Attributes: { ApproximateReceiveCount: String(receiveCount) },
      },
      'arn:aws:sqs:us-east-1:000000000000:test',
      'us-east-1',
    );
  return { api, id, record };
}

async function dlqBodies(): Promise<string[]> {
  const { Messages = [] } = await sqs().send(
    new ReceiveMessageCommand({
      QueueUrl: process.env.DEAD_LETTER_QUEUE_URL,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 0,
      WaitTimeSeconds: 0,
    }),
  );
  return Messages.map((m) => m.Body ?? '');
}
