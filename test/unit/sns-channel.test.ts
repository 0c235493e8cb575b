/**
 * The SNS channel's answers to what SNS can say, scripted per call: per-entry failures
 * (the sender's fault or SNS's), whole-call errors, and the size limits. The messages
 * reaching a real topic are tested against fauxqs in test/integration/sns-channel.test.ts.
 */
import {
  AuthorizationErrorException,
  InternalErrorException,
  NotFoundException,
  type PublishBatchCommand,
  type PublishBatchCommandOutput,
  type PublishBatchRequestEntry,
  type SNSClient,
  ThrottledException,
} from '@aws-sdk/client-sns';
import { describe, expect, it } from 'vitest';
import { createSnsChannel, SNS_MAX_MESSAGE_BYTES } from '#shared/adapters/sns-channel.ts';
import { type ChannelBatch, idempotencyKeyOf, MAX_REASON_LENGTH } from '#shared/domain/channel.ts';

const topicArn = 'arn:aws:sns:us-east-1:123456789012:csv-campaigns-default';

type Answer = (entries: PublishBatchRequestEntry[]) => Partial<PublishBatchCommandOutput>;

/** A client answering each PublishBatch with the next step (the last repeats); a step may throw. */
function scripted(steps: Answer[]) {
  const calls: PublishBatchRequestEntry[][] = [];
  const client = {
    async send(command: PublishBatchCommand) {
      expect(command.input.TopicArn).toBe(topicArn);
      const entries = command.input.PublishBatchRequestEntries ?? [];
      calls.push(entries);
      const step = steps[Math.min(calls.length, steps.length) - 1] as Answer;
      return step(entries);
    },
  } as unknown as SNSClient;
  return { client, calls };
}

const allAccepted: Answer = (entries) => ({
  Successful: entries.map((e) => ({ Id: e.Id, MessageId: `m-${e.Id}` })),
  Failed: [],
});

/** Accepts all but the entries of `ids`, which fail with `code`. */
const failing =
  (ids: string[], code: string, senderFault: boolean): Answer =>
  (entries) => ({
    Successful: entries
      .filter((e) => !ids.includes(e.Id as string))
      .map((e) => ({ Id: e.Id, MessageId: 'm' })),
    Failed: entries
      .filter((e) => ids.includes(e.Id as string))
      .map((e) => ({
        Id: e.Id,
        Code: code,
        SenderFault: senderFault,
        Message: 'arn:aws:iam::123456789012:role/x',
      })),
  });

const throwing =
  (error: Error): Answer =>
  () => {
    throw error;
  };

function batchOf(count: number, body = (i: number) => `Hello u${i}`): ChannelBatch {
  return {
    appId: 'app_1',
    campaignId: 'cmp_1',
    messages: Array.from({ length: count }, (_, i) => ({
      userId: `u${i}`,
      title: i % 2 === 0 ? `Title ${i}` : null,
      body: body(i),
      idempotencyKey: idempotencyKeyOf('cmp_1', `u${i}`),
    })),
  };
}

const fast = { baseDelayMs: 0, maxDelayMs: 0 };

describe('SNS channel', () => {
  it('publishes a batch as one PublishBatch: each message its JSON, appId and campaignId attributes, its index as Id', async () => {
    const { client, calls } = scripted([allAccepted]);
    const channel = createSnsChannel({ client, topicArn, ...fast });
    expect(channel.name).toBe('sns');
    expect(channel.maxBatchSize).toBe(100);
    const batch = batchOf(10);
    expect(await channel.deliverBatch(batch)).toEqual(batch.messages.map(() => ({ status: 'accepted' })));
    expect(calls).toHaveLength(1);
    const [entries] = calls;
    expect(entries?.map((e) => e.Id)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(JSON.parse(entries?.[1]?.Message ?? '')).toEqual({
      type: 'campaign.message',
      appId: 'app_1',
      campaignId: 'cmp_1',
      idempotencyKey: 'cmp_1:u1',
      userId: 'u1',
      title: null,
      body: 'Hello u1',
    });
    expect(entries?.[0]?.MessageAttributes).toEqual({
      appId: { DataType: 'String', StringValue: 'app_1' },
      campaignId: { DataType: 'String', StringValue: 'cmp_1' },
    });
    // A standard topic: no FIFO fields.
    expect(entries?.[0]).not.toHaveProperty('MessageGroupId');
    expect(entries?.[0]).not.toHaveProperty('MessageDeduplicationId');
  });

  it("rejects an entry SNS failed for the sender's fault, naming the code, and sends it no more", async () => {
    const { client, calls } = scripted([failing(['1'], 'InvalidParameter', true), allAccepted]);
    const results = await createSnsChannel({ client, topicArn, ...fast }).deliverBatch(batchOf(3));
    expect(results).toEqual([
      { status: 'accepted' },
      { status: 'rejected', reason: 'SNS rejected the message (InvalidParameter)' },
      { status: 'accepted' },
    ]);
    expect(calls).toHaveLength(1);
  });

  it('sends again only the entries SNS failed on its side, and accepts them when they go through', async () => {
    const { client, calls } = scripted([failing(['0', '2'], 'InternalError', false), allAccepted]);
    const results = await createSnsChannel({ client, topicArn, ...fast }).deliverBatch(batchOf(3));
    expect(results).toEqual([{ status: 'accepted' }, { status: 'accepted' }, { status: 'accepted' }]);
    expect(calls.map((c) => c.map((e) => e.Id))).toEqual([
      ['0', '1', '2'],
      ['0', '2'],
    ]);
  });

  it('rejects an entry SNS keeps failing on its side after maxAttempts tries, quoting none of its message', async () => {
    const { client, calls } = scripted([failing(['1'], 'InternalError', false)]);
    const results = await createSnsChannel({ client, topicArn, maxAttempts: 3, ...fast }).deliverBatch(
      batchOf(2),
    );
    expect(results).toEqual([
      { status: 'accepted' },
      { status: 'rejected', reason: 'SNS failed the message (InternalError) after 3 tries' },
    ]);
    expect(calls.map((c) => c.map((e) => e.Id))).toEqual([['0', '1'], ['1'], ['1']]);
  });

  it.each([
    [
      'throttling',
      new ThrottledException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } }),
      'TransientDeliveryError',
      'ThrottledException, HTTP 400',
    ],
    [
      'a 5xx',
      new InternalErrorException({ message: 'oops', $metadata: { httpStatusCode: 500 } }),
      'TransientDeliveryError',
      'InternalErrorException, HTTP 500',
    ],
    [
      'no answer',
      Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }),
      'TransientDeliveryError',
      'TimeoutError, no answer',
    ],
    [
      'access denied',
      new AuthorizationErrorException({
        message: 'User: arn:aws:sts::123456789012:assumed-role/x is not authorized',
        $metadata: { httpStatusCode: 403 },
      }),
      'PermanentDeliveryError',
      'AuthorizationErrorException, HTTP 403',
    ],
    [
      'no such topic',
      new NotFoundException({ message: 'Topic does not exist', $metadata: { httpStatusCode: 404 } }),
      'PermanentDeliveryError',
      'NotFoundException, HTTP 404',
    ],
  ])('fails the whole batch on %s before anything was accepted', async (_what, error, name, described) => {
    const { client, calls } = scripted([throwing(error)]);
    const failure = (await createSnsChannel({ client, topicArn, ...fast })
      .deliverBatch(batchOf(3))
      .catch((e: unknown) => e)) as Error & { summary: string };
    expect(failure).toMatchObject({ name, message: `SNS PublishBatch failed (${described})` });
    expect(failure.summary).toBe(`SNS PublishBatch failed (${described})`);
    expect(failure.message).not.toContain(error.message);
    // The SDK has retried throttling and 5xx already: one call here.
    expect(calls).toHaveLength(1);
  });

  it('once messages were accepted, counts a failed call as a try of the rest, never failing the batch', async () => {
    const throttled = new ThrottledException({
      message: 'Rate exceeded',
      $metadata: { httpStatusCode: 400 },
    });
    const { client, calls } = scripted([failing(['2'], 'InternalError', false), throwing(throttled)]);
    const results = await createSnsChannel({ client, topicArn, maxAttempts: 3, ...fast }).deliverBatch(
      batchOf(3),
    );
    expect(results).toEqual([
      { status: 'accepted' },
      { status: 'accepted' },
      { status: 'rejected', reason: 'SNS failed the message (ThrottledException, HTTP 400) after 3 tries' },
    ]);
    expect(calls).toHaveLength(3);
  });

  it("rejects a message over SNS's 256 KiB before any call, naming the limit, and publishes the others", async () => {
    const { client, calls } = scripted([allAccepted]);
    const batch = batchOf(3, (i) => (i === 1 ? 'x'.repeat(SNS_MAX_MESSAGE_BYTES) : `Hello u${i}`));
    const results = await createSnsChannel({ client, topicArn, ...fast }).deliverBatch(batch);
    expect(results[0]).toEqual({ status: 'accepted' });
    expect(results[2]).toEqual({ status: 'accepted' });
    expect(results[1]).toMatchObject({ status: 'rejected' });
    const { reason } = results[1] as { reason: string };
    expect(reason).toMatch(
      /^the message is \d+ bytes with its attributes, over SNS's limit of 262144 bytes \(256 KiB\)/,
    );
    expect(reason.length).toBeLessThanOrEqual(MAX_REASON_LENGTH);
    expect(calls.map((c) => c.map((e) => e.Id))).toEqual([['0', '2']]);
  });

  it('splits a batch whose messages together pass 256 KiB into as few calls as fit', async () => {
    const { client, calls } = scripted([allAccepted]);
    // Four messages of about 100 KiB: two per call.
    const batch = batchOf(4, () => 'y'.repeat(100 * 1024));
    const results = await createSnsChannel({ client, topicArn, ...fast }).deliverBatch(batch);
    expect(results.every((r) => r.status === 'accepted')).toBe(true);
    expect(calls.map((c) => c.map((e) => e.Id))).toEqual([
      ['0', '1'],
      ['2', '3'],
    ]);
  });

  it('sends nothing for an empty batch and refuses more than 100 messages without a call', async () => {
    const { client, calls } = scripted([allAccepted]);
    const channel = createSnsChannel({ client, topicArn, ...fast });
    expect(await channel.deliverBatch(batchOf(0))).toEqual([]);
    await expect(channel.deliverBatch(batchOf(101))).rejects.toThrow(RangeError);
    expect(calls).toHaveLength(0);
  });

  it('retries a call throttled after an earlier call of the chunk was accepted, and loses nothing', async () => {
    const throttled = new ThrottledException({
      message: 'Rate exceeded',
      $metadata: { httpStatusCode: 400 },
    });
    const { client, calls } = scripted([allAccepted, throwing(throttled), allAccepted]);
    const batch = batchOf(25);
    const results = await createSnsChannel({ client, topicArn, maxAttempts: 3, ...fast }).deliverBatch(batch);
    expect(results).toEqual(batch.messages.map(() => ({ status: 'accepted' })));
    // The second ten were refused once, then sent again whole.
    expect(calls.map((c) => c.length)).toEqual([10, 10, 10, 5]);
    expect(calls[1]?.map((e) => e.Id)).toEqual(calls[2]?.map((e) => e.Id));
  });

  it('sends a chunk of 25 as PublishBatch calls of 10, 10 and 5', async () => {
    const { client, calls } = scripted([allAccepted]);
    const batch = batchOf(25);
    expect(await createSnsChannel({ client, topicArn, ...fast }).deliverBatch(batch)).toEqual(
      batch.messages.map(() => ({ status: 'accepted' })),
    );
    expect(calls.map((c) => c.length)).toEqual([10, 10, 5]);
    expect(calls.flatMap((c) => c.map((e) => e.Id))).toEqual(batch.messages.map((_, i) => String(i)));
  });
});
