/**
 * The SNS channel against a real-protocol SNS (fauxqs): a standard topic with an SQS
 * queue subscribed to it, as a deployment's subscriber would have. Every message of a
 * campaign arrives once, in SNS's notification envelope (raw message delivery off, AWS's
 * default), with the appId and campaignId attributes a filter policy would match.
 */
import { randomUUID } from 'node:crypto';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fauxqs, startFauxqsProcess } from '#infra/local/fauxqs.ts';
import { createSnsChannel, type SnsMessage } from '#shared/adapters/sns-channel.ts';
import { type ChannelMessage, idempotencyKeyOf } from '#shared/domain/channel.ts';

let fauxqs: Fauxqs;
let sns: SNSClient;
let sqs: SQSClient;

beforeAll(async () => {
  fauxqs = await startFauxqsProcess();
  const config = {
    region: 'us-east-1',
    endpoint: fauxqs.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  sns = new SNSClient(config);
  sqs = new SQSClient(config);
});

afterAll(async () => {
  sns?.destroy();
  sqs?.destroy();
  await fauxqs?.stop();
});

/** A new topic with a new queue subscribed to it (raw delivery off). */
async function subscribedQueue(): Promise<{ topicArn: string; queueUrl: string }> {
  const name = `sns-channel-${randomUUID().slice(0, 8)}`;
  const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: name }));
  const created = await sqs.send(new CreateQueueCommand({ QueueName: name }));
  // fauxqs names a host of its own in queue URLs; the same path on its endpoint always resolves.
  const queueUrl = new URL(new URL(created.QueueUrl as string).pathname, fauxqs.endpoint).toString();
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  await sns.send(
    new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: Attributes?.QueueArn as string }),
  );
  return { topicArn: TopicArn as string, queueUrl };
}

interface Envelope {
  Type: string;
  TopicArn: string;
  Message: string;
  MessageAttributes?: Record<string, { Type: string; Value: string }>;
}

/** Every message on the queue, until a receive comes back empty. */
async function drain(queueUrl: string): Promise<Envelope[]> {
  const received: Envelope[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    if (Messages.length === 0) return received;
    for (const m of Messages) received.push(JSON.parse(m.Body as string) as Envelope);
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
      }),
    );
  }
}

describe('SNS channel on a topic with a subscribed queue', () => {
  it('delivers a campaign of 25 in three PublishBatch calls, each message once, with its attributes and body', async () => {
    const { topicArn, queueUrl } = await subscribedQueue();
    let publishBatchCalls = 0;
    sns.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PublishBatchCommand') publishBatchCalls += 1;
        return next(args);
      },
      { step: 'initialize', name: 'countPublishBatch' },
    );
    const channel = createSnsChannel({ client: sns, topicArn });
    const messages: ChannelMessage[] = Array.from({ length: 25 }, (_, i) => ({
      userId: `user-${i}`,
      title: i % 5 === 0 ? null : `Hello ${i}`,
      body: `Your order ${i} shipped ✓ <b>now</b>`,
      idempotencyKey: idempotencyKeyOf('cmp_sns', `user-${i}`),
    }));

    const results = [];
    for (let start = 0; start < messages.length; start += channel.maxBatchSize) {
      const slice = messages.slice(start, start + channel.maxBatchSize);
      results.push(
        ...(await channel.deliverBatch({ appId: 'app_sns', campaignId: 'cmp_sns', messages: slice })),
      );
    }
    sns.middlewareStack.remove('countPublishBatch');

    expect(results).toEqual(messages.map(() => ({ status: 'accepted' })));
    expect(publishBatchCalls).toBe(3);

    const envelopes = await drain(queueUrl);
    expect(envelopes).toHaveLength(25);
    const byKey = new Map<string, { envelope: Envelope; message: SnsMessage }>();
    for (const envelope of envelopes) {
      expect(envelope.Type).toBe('Notification');
      expect(envelope.TopicArn).toBe(topicArn);
      const message = JSON.parse(envelope.Message) as SnsMessage;
      expect(byKey.has(message.idempotencyKey)).toBe(false);
      byKey.set(message.idempotencyKey, { envelope, message });
    }
    for (const sent of messages) {
      const got = byKey.get(sent.idempotencyKey);
      expect(got?.message).toEqual({
        type: 'campaign.message',
        appId: 'app_sns',
        campaignId: 'cmp_sns',
        idempotencyKey: sent.idempotencyKey,
        userId: sent.userId,
        title: sent.title,
        body: sent.body,
      });
      expect(got?.envelope.MessageAttributes).toEqual({
        appId: { Type: 'String', Value: 'app_sns' },
        campaignId: { Type: 'String', Value: 'cmp_sns' },
      });
    }
  });

  it('fails the whole batch permanently when the topic does not exist, publishing nothing', async () => {
    const { topicArn, queueUrl } = await subscribedQueue();
    const channel = createSnsChannel({ client: sns, topicArn: `${topicArn}-missing` });
    const failure = await channel
      .deliverBatch({
        appId: 'app_sns',
        campaignId: 'cmp_sns',
        messages: [{ userId: 'u', title: null, body: 'b', idempotencyKey: 'cmp_sns:u' }],
      })
      .catch((e: unknown) => e);
    expect(failure).toMatchObject({ name: 'PermanentDeliveryError' });
    expect((failure as Error).message).toMatch(/^SNS PublishBatch failed \(NotFound\w*, HTTP 404\)$/);
    expect(await drain(queueUrl)).toEqual([]);
  });
});
