import {
  InvokeCommand,
  LambdaClient,
  ResourceNotFoundException as NoSuchFunction,
} from '@aws-sdk/client-lambda';
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
} from '@aws-sdk/client-scheduler';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedAws, startEmbeddedAws } from '#infra/local/embedded-aws.ts';
import { startLambdaEmulator } from '#infra/local/lambda-emulator.ts';
import {
  type SchedulerEmulator,
  type ScheduleTarget,
  startSchedulerEmulator,
} from '#infra/local/scheduler-emulator.ts';
import { startSqsEventSource } from '#infra/local/sqs-event-source.ts';

const region = 'us-east-1';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

/** `at()` expression for a moment `ms` from now, to the second. */
function atIn(ms: number): string {
  return `at(${new Date(Date.now() + ms).toISOString().slice(0, 19)})`;
}

describe('local EventBridge Scheduler', () => {
  let emulator: SchedulerEmulator;
  let client: SchedulerClient;
  const fired: ScheduleTarget[] = [];

  beforeAll(async () => {
    emulator = await startSchedulerEmulator({ region, invoke: (target) => fired.push(target) });
    client = new SchedulerClient({ region, endpoint: emulator.endpoint, credentials });
  });
  afterAll(() => emulator.stop());

  const target = (input: string) => ({
    Arn: 'arn:aws:lambda:us-east-1:000000000000:function:send',
    RoleArn: 'arn:aws:iam::000000000000:role/scheduler',
    Input: input,
  });

  it('fires a one-time schedule at its time with its input, then deletes it', async () => {
    await client.send(
      new CreateScheduleCommand({
        Name: 'soon',
        GroupName: 'campaigns',
        ScheduleExpression: atIn(1500),
        FlexibleTimeWindow: { Mode: 'OFF' },
        ActionAfterCompletion: 'DELETE',
        Target: target('{"campaignId":"c1"}'),
      }),
    );
    const got = await client.send(new GetScheduleCommand({ Name: 'soon', GroupName: 'campaigns' }));
    expect(got.Target?.Input).toBe('{"campaignId":"c1"}');
    expect(fired).toHaveLength(0);
    await expect.poll(() => fired.map((t) => t.Input), { timeout: 5000 }).toEqual(['{"campaignId":"c1"}']);
    expect(emulator.scheduleNames()).not.toContain('campaigns/soon');
  });

  it('never fires a schedule deleted before its time', async () => {
    const before = fired.length;
    await client.send(
      new CreateScheduleCommand({
        Name: 'cancelled',
        ScheduleExpression: atIn(1200),
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: target('{"campaignId":"c2"}'),
      }),
    );
    await client.send(new DeleteScheduleCommand({ Name: 'cancelled' }));
    await new Promise((r) => setTimeout(r, 2500));
    expect(fired.length).toBe(before);
  });

  it('answers like the service for a duplicate name and a missing schedule', async () => {
    const create = () =>
      client.send(
        new CreateScheduleCommand({
          Name: 'twice',
          ScheduleExpression: atIn(3_600_000),
          FlexibleTimeWindow: { Mode: 'OFF' },
          Target: target('{}'),
        }),
      );
    await create();
    await expect(create()).rejects.toBeInstanceOf(ConflictException);
    await expect(client.send(new DeleteScheduleCommand({ Name: 'missing' }))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
  });
});

describe('local SQS event source', () => {
  let aws: EmbeddedAws;
  let sqs: SQSClient;

  beforeAll(async () => {
    aws = await startEmbeddedAws();
    sqs = new SQSClient({ region, endpoint: aws.env.AWS_ENDPOINT_URL_SQS, credentials });
  });
  afterAll(() => aws.stop());

  it('deletes what the consumer handled, and redelivers only the messages it reported as failed', async () => {
    const created = await sqs.send(
      new CreateQueueCommand({ QueueName: 'event-source-test', Attributes: { VisibilityTimeout: '1' } }),
    );
    const queueUrl = new URL(
      new URL(created.QueueUrl as string).pathname,
      aws.env.AWS_ENDPOINT_URL_SQS,
    ).toString();
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    for (let batch = 0; batch < 3; batch += 1) {
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: Array.from({ length: 10 }, (_, i) => ({
            Id: `m${i}`,
            MessageBody: String(batch * 10 + i),
          })),
        }),
      );
    }

    const deliveries = new Map<string, number>();
    const handled = new Set<string>();
    const source = startSqsEventSource(
      async () =>
        async (event: SQSEvent): Promise<SQSBatchResponse> => {
          const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
          for (const record of event.Records) {
            const seen = (deliveries.get(record.body) ?? 0) + 1;
            deliveries.set(record.body, seen);
            // Every multiple of 7 fails on its first delivery.
            if (Number(record.body) % 7 === 0 && seen === 1)
              batchItemFailures.push({ itemIdentifier: record.messageId });
            else handled.add(record.body);
          }
          return { batchItemFailures };
        },
      {
        client: sqs,
        queueUrl,
        queueArn: Attributes?.QueueArn as string,
        functionName: 'consumer',
        timeoutSeconds: 30,
        concurrency: 2,
      },
    );
    try {
      await expect.poll(() => handled.size, { timeout: 20_000 }).toBe(30);
      // Give a wrongly kept message time to come back.
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      await source.stop();
    }
    for (const [body, count] of deliveries) {
      expect(count, `message ${body}`).toBe(Number(body) % 7 === 0 ? 2 : 1);
    }
  });
});

describe('local Lambda Invoke API', () => {
  it('queues an asynchronous invocation of a known function with its payload', async () => {
    const invoked: Array<[string, unknown]> = [];
    const emulator = await startLambdaEmulator({
      invokeAsync: (name, payload) => {
        if (name !== 'sendCampaign') return false;
        invoked.push([name, payload]);
        return true;
      },
    });
    const client = new LambdaClient({ region, endpoint: emulator.endpoint, credentials });
    try {
      const result = await client.send(
        new InvokeCommand({
          FunctionName: 'sendCampaign',
          InvocationType: 'Event',
          Payload: Buffer.from(JSON.stringify({ campaignId: 'c1' })),
        }),
      );
      expect(result.StatusCode).toBe(202);
      expect(invoked).toEqual([['sendCampaign', { campaignId: 'c1' }]]);
      await expect(
        client.send(
          new InvokeCommand({ FunctionName: 'nope', InvocationType: 'Event', Payload: Buffer.from('{}') }),
        ),
      ).rejects.toBeInstanceOf(NoSuchFunction);
    } finally {
      await emulator.stop();
    }
  });
});
