import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { S3Event } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedAws, startEmbeddedAws } from '#infra/local/embedded-aws.ts';
import { defaultTable, dynamodb } from '#shared/adapters/dynamodb.ts';
import { recipientPk, recipientSk, shardOf } from '#shared/domain/keys.ts';
import { deliveryQueue, table } from '#shared/resources.ts';

let aws: EmbeddedAws;
let adapters: {
  s3: typeof import('#shared/adapters/s3.ts');
  sqs: typeof import('#shared/adapters/sqs.ts');
};
const events: S3Event[] = [];

beforeAll(async () => {
  aws = await startEmbeddedAws();
  Object.assign(process.env, aws.env);
  aws.onObjectCreated((event) => events.push(event));
  // The S3 and SQS adapters read their bucket and queue at import, as a Lambda does at cold
  // start; the DynamoDB adapter reads its table on first use.
  adapters = {
    s3: await import('#shared/adapters/s3.ts'),
    sqs: await import('#shared/adapters/sqs.ts'),
  };
});

afterAll(async () => {
  await aws?.stop();
});

describe('embedded AWS', () => {
  it('starts DynamoDB Local and fauxqs as child processes and creates the resources', () => {
    expect(aws.mode).toBe('emulators');
    expect(aws.processGroups).toHaveLength(2);
    expect(aws.env.TABLE_NAME).toBe(table.localName);
    expect(new URL(aws.env.DELIVERY_QUEUE_URL as string).hostname).toBe('127.0.0.1');
  });

  it('writes and reads a recipient item, and refuses a conditional write on an existing key', async () => {
    const { client: documents, tableName } = defaultTable();
    const key = { pk: recipientPk('app-1', 'cmp_1', shardOf('user-007', 16)), sk: recipientSk('user-007') };
    const item = { ...key, userId: 'user-007', status: 'pending', variables: { name: 'Ada', discount: 10 } };
    await documents.send(new PutCommand({ TableName: tableName, Item: item }));

    const read = await documents.send(new GetCommand({ TableName: tableName, Key: key }));
    expect(read.Item).toEqual(item);

    const duplicate = documents.send(
      new PutCommand({ TableName: tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }),
    );
    await expect(duplicate).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });
  });

  it('runs transactions and has time-to-live enabled on the table', async () => {
    const { client: documents, tableName } = defaultTable();
    await documents.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: tableName, Item: { pk: 'tx', sk: 'a' } } },
          {
            Put: {
              TableName: tableName,
              Item: { pk: 'tx', sk: 'b' },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
        ],
      }),
    );
    const again = documents.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: tableName, Item: { pk: 'tx', sk: 'c' } } },
          {
            Put: {
              TableName: tableName,
              Item: { pk: 'tx', sk: 'b' },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
        ],
      }),
    );
    await expect(again).rejects.toMatchObject({ name: 'TransactionCanceledException' });
    const partial = await documents.send(
      new GetCommand({ TableName: tableName, Key: { pk: 'tx', sk: 'c' } }),
    );
    expect(partial.Item).toBeUndefined();

    const ttl = await dynamodb.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    expect(ttl.TimeToLiveDescription).toMatchObject({
      AttributeName: table.ttlAttribute,
      TimeToLiveStatus: 'ENABLED',
    });
  });

  it('streams a 20 MiB object into S3 and back byte for byte, and notifies the upload', async () => {
    const { s3, bucketName } = adapters.s3;
    const size = 20 * 1024 * 1024;
    const content = randomBytes(size);
    const key = 'uploads/app-1/cmp_1/upl_big.csv';
    // A stream body makes the SDK send aws-chunked content with its default checksums.
    await s3.send(
      new PutObjectCommand({
        Bucket: bucketName,
        Key: key,
        Body: Readable.from([content]),
        ContentLength: size,
      }),
    );

    const got = await s3.send(new GetObjectCommand({ Bucket: bucketName, Key: key }));
    const hash = createHash('sha256');
    let received = 0;
    for await (const chunk of got.Body as Readable) {
      hash.update(chunk as Buffer);
      received += (chunk as Buffer).length;
    }
    expect(received).toBe(size);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(content).digest('hex'));

    await expect.poll(() => events.length).toBeGreaterThan(0);
    expect(events[0]?.Records[0]?.s3).toMatchObject({
      bucket: { name: bucketName },
      object: { key, size },
    });
    expect(events[0]?.Records[0]?.eventName).toBe('ObjectCreated:Put');
  });

  it('sends, receives and deletes a batch of 10 messages, and moves one to the dead-letter queue after the max receive count', async () => {
    const { sqs, deliveryQueueUrl } = adapters.sqs;
    const deadLetterUrl = aws.env.DEAD_LETTER_QUEUE_URL as string;
    const entries = Array.from({ length: 10 }, (_, i) => ({
      Id: `m${i}`,
      MessageBody: JSON.stringify({ n: i }),
    }));
    const sent = await sqs.send(
      new SendMessageBatchCommand({ QueueUrl: deliveryQueueUrl, Entries: entries }),
    );
    expect(sent.Successful).toHaveLength(10);

    const received: Message[] = [];
    while (received.length < 10) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: deliveryQueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
        }),
      );
      received.push(...Messages);
    }
    const poison = received.find((m) => m.Body === JSON.stringify({ n: 9 })) as Message;
    const good = received.filter((m) => m !== poison);
    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: deliveryQueueUrl,
        Entries: good.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle as string })),
      }),
    );
    expect(deleted.Successful).toHaveLength(9);

    // Fail the poison message until SQS gives up on it: make it visible again at once, each time.
    let handle = poison.ReceiptHandle as string;
    let receives = 1;
    for (;;) {
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: deliveryQueueUrl,
          ReceiptHandle: handle,
          VisibilityTimeout: 0,
        }),
      );
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: deliveryQueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
        }),
      );
      if (Messages.length === 0) break;
      receives += 1;
      handle = Messages[0]?.ReceiptHandle as string;
      expect(receives).toBeLessThanOrEqual(deliveryQueue.maxReceiveCount);
    }
    expect(receives).toBe(deliveryQueue.maxReceiveCount);

    const dead = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: deadLetterUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    expect(dead.Messages?.map((m) => m.Body)).toEqual([JSON.stringify({ n: 9 })]);
  });

  it('stops every emulator and leaves no process behind', async () => {
    const groups = aws.processGroups;
    await aws.stop();
    for (const group of groups) {
      expect(() => process.kill(-group, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    }
  });
});
