import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import {
  BatchWriteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenOnLoopback } from '#infra/local/loopback.ts';
import { type FaultProxy, operationOf, startFaultProxy } from '#test/support/faults/proxy.ts';

/** A stand-in for an emulator: records the JSON bodies it gets and answers like the service would. */
const received: { target: string; body: any }[] = [];
let upstream: { endpoint: string; close(): Promise<void> };

beforeAll(async () => {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const body = chunks.length > 0 && target ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
      received.push({ target, body });
      let out: unknown = {};
      if (target.endsWith('.BatchWriteItem')) out = { UnprocessedItems: {} };
      if (target.endsWith('.GetItem')) out = {};
      if (target.endsWith('.TransactWriteItems')) out = {};
      if (target.endsWith('.SendMessageBatch')) {
        out = {
          Successful: body.Entries.map((e: { Id: string; MessageBody: string }) => ({
            Id: e.Id,
            MessageId: `m-${e.Id}`,
            MD5OfMessageBody: createHash('md5').update(e.MessageBody).digest('hex'),
          })),
        };
      }
      if (!target) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('object body');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(out));
    });
  });
  upstream = await listenOnLoopback(server);
});
afterAll(() => upstream.close());

const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.stop();
});
async function proxy(service: 'dynamodb' | 'sqs' | 's3', seed = 1) {
  const started = await startFaultProxy({ service, target: upstream.endpoint, seed });
  proxies.push(started);
  return started;
}

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const region = 'us-east-1';
// One attempt: the test sees what the proxy answered, not the SDK's retry of it.
const once = { region, credentials, maxAttempts: 1 };

describe('fault proxy', () => {
  it('names operations from X-Amz-Target, the query Action, and S3 method and path', () => {
    expect(operationOf('dynamodb', 'POST', '/', { 'x-amz-target': 'DynamoDB_20120810.BatchWriteItem' })).toBe(
      'BatchWriteItem',
    );
    expect(operationOf('sqs', 'POST', '/', {}, 'Action=SendMessageBatch&QueueUrl=x')).toBe(
      'SendMessageBatch',
    );
    expect(operationOf('s3', 'PUT', '/bucket/uploads/a.csv?x-id=PutObject', {})).toBe('PutObject');
    expect(operationOf('s3', 'GET', '/bucket/uploads/a.csv', {})).toBe('GetObject');
    expect(operationOf('s3', 'POST', '/bucket/k?uploadId=1', {})).toBe('CompleteMultipartUpload');
  });

  it('throttles DynamoDB in its wire format, which the SDK reads as ProvisionedThroughputExceededException', async () => {
    const p = await proxy('dynamodb');
    p.setRules([{ operation: 'GetItem', rate: 1, fault: { kind: 'throttle' } }]);
    const client = new DynamoDBClient({ ...once, endpoint: p.endpoint });
    const error = await client
      .send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'a' } } }))
      .catch((e: unknown) => e as { name: string; $metadata: { httpStatusCode: number } });
    expect(error).toMatchObject({
      name: 'ProvisionedThroughputExceededException',
      $metadata: { httpStatusCode: 400 },
    });
    p.setRules([{ rate: 1, fault: { kind: 'throttle', code: 'ThrottlingException' } }]);
    await expect(
      client.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'a' } } })),
    ).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
    expect(p.injected()).toEqual({ 'GetItem:throttle': 2 });
  });

  it('throttles SQS and S3 in theirs: ThrottlingException, and SlowDown with a 503', async () => {
    const sqsProxy = await proxy('sqs');
    sqsProxy.setRules([{ rate: 1, fault: { kind: 'throttle' } }]);
    const sqs = new SQSClient({ ...once, endpoint: sqsProxy.endpoint });
    await expect(
      sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: `${sqsProxy.endpoint}/000000000000/q`,
          Entries: [{ Id: '1', MessageBody: 'x' }],
        }),
      ),
    ).rejects.toMatchObject({ name: 'ThrottlingException' });

    const s3Proxy = await proxy('s3');
    s3Proxy.setRules([{ operation: 'GetObject', rate: 1, fault: { kind: 'throttle' } }]);
    const s3 = new S3Client({ ...once, endpoint: s3Proxy.endpoint, forcePathStyle: true });
    await expect(s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' }))).rejects.toMatchObject({
      name: 'SlowDown',
      $metadata: { httpStatusCode: 503 },
    });
    expect(s3Proxy.injected()).toEqual({ 'GetObject:throttle': 1 });
  });

  it('writes part of a BatchWriteItem and hands the rest back as UnprocessedItems', async () => {
    const p = await proxy('dynamodb');
    p.setRules([{ operation: 'BatchWriteItem', rate: 1, fault: { kind: 'unprocessed', fraction: 0.4 } }]);
    const client = new DynamoDBClient({ ...once, endpoint: p.endpoint });
    const items = Array.from({ length: 10 }, (_, i) => ({ PutRequest: { Item: { pk: { S: `k${i}` } } } }));
    received.length = 0;
    const result = await client.send(new BatchWriteItemCommand({ RequestItems: { t: items } }));
    const written = received[0]?.body.RequestItems.t;
    expect(written).toHaveLength(6);
    expect([...written, ...(result.UnprocessedItems?.t ?? [])]).toEqual(items);
    expect(p.handedBack()).toEqual({ BatchWriteItem: 4 });
  });

  it('fails some SendMessageBatch entries, sending only the others', async () => {
    const p = await proxy('sqs', 3);
    p.setRules([{ operation: 'SendMessageBatch', rate: 0.5, fault: { kind: 'failEntries' } }]);
    const sqs = new SQSClient({ ...once, endpoint: p.endpoint });
    const entries = Array.from({ length: 10 }, (_, i) => ({ Id: String(i), MessageBody: `body ${i}` }));
    received.length = 0;
    const result = await sqs.send(
      new SendMessageBatchCommand({ QueueUrl: `${p.endpoint}/000000000000/q`, Entries: entries }),
    );
    const failed = (result.Failed ?? []).map((f) => f.Id);
    expect(failed.length).toBeGreaterThan(0);
    expect(result.Failed?.[0]).toMatchObject({ SenderFault: false, Code: 'InternalError' });
    const sent = received[0]?.body.Entries.map((e: { Id: string }) => e.Id) ?? [];
    expect((result.Successful ?? []).map((s) => s.Id)).toEqual(sent);
    expect([...sent, ...failed].sort()).toEqual(entries.map((e) => e.Id).sort());
    expect(p.handedBack()).toEqual({ SendMessageBatch: failed.length });
  });

  it('lets a whole-request fault take a SendMessageBatch before failing its entries', async () => {
    const p = await proxy('sqs');
    p.setRules([
      { operation: 'SendMessageBatch', rate: 0.5, fault: { kind: 'failEntries' } },
      { operation: 'SendMessageBatch', rate: 1, limit: 1, fault: { kind: 'throttle' } },
    ]);
    const sqs = new SQSClient({ ...once, endpoint: p.endpoint });
    const send = () =>
      sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: `${p.endpoint}/000000000000/q`,
          Entries: [{ Id: '1', MessageBody: 'x' }],
        }),
      );
    await expect(send()).rejects.toMatchObject({ name: 'ThrottlingException' });
    await send();
    expect(p.injected()['SendMessageBatch:throttle']).toBe(1);
  });

  it('cancels a TransactWriteItems with a TransactionConflict, as DynamoDB does, and writes nothing', async () => {
    const p = await proxy('dynamodb');
    p.setRules([{ operation: 'TransactWriteItems', rate: 1, limit: 1, fault: { kind: 'cancel' } }]);
    const client = new DynamoDBClient({ ...once, endpoint: p.endpoint });
    const put = (sk: string) => ({ Put: { TableName: 't', Item: { pk: { S: 'a' }, sk: { S: sk } } } });
    const transact = () =>
      client.send(new TransactWriteItemsCommand({ TransactItems: [put('1'), put('2')] }));
    received.length = 0;
    const error = await transact().catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'TransactionCanceledException',
      $metadata: { httpStatusCode: 400 },
      CancellationReasons: [
        { Code: 'None' },
        { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' },
      ],
    });
    expect((error as Error).message).toContain('[None, TransactionConflict]');
    expect(received).toEqual([]);
    // The burst is over: the next one reaches the service.
    await expect(transact()).resolves.toMatchObject({ $metadata: { httpStatusCode: 200 } });
    expect(received.map((r) => r.target)).toEqual(['DynamoDB_20120810.TransactWriteItems']);
    expect(p.injected()).toEqual({ 'TransactWriteItems:cancel': 1 });
  });

  it('cancels a TransactWriteItems with the reason asked for each item, only when its body matches', async () => {
    const p = await proxy('dynamodb');
    p.setRules([
      {
        operation: 'TransactWriteItems',
        bodyIncludes: '"sk":{"S":"2"}',
        rate: 1,
        fault: { kind: 'cancel', codes: ['ConditionalCheckFailed', 'TransactionConflict'] },
      },
    ]);
    const client = new DynamoDBClient({ ...once, endpoint: p.endpoint });
    const put = (sk: string) => ({ Put: { TableName: 't', Item: { pk: { S: 'a' }, sk: { S: sk } } } });
    received.length = 0;
    // Not matched: reaches the service.
    await client.send(new TransactWriteItemsCommand({ TransactItems: [put('1'), put('3'), put('4')] }));
    const error = await client
      .send(new TransactWriteItemsCommand({ TransactItems: [put('1'), put('2'), put('3')] }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'TransactionCanceledException',
      CancellationReasons: [
        { Code: 'ConditionalCheckFailed', Message: 'The conditional request failed' },
        { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' },
        { Code: 'None' },
      ],
    });
    expect(received.map((r) => r.target)).toEqual(['DynamoDB_20120810.TransactWriteItems']);
    expect(p.injected()).toEqual({ 'TransactWriteItems:cancel': 1 });
  });

  it('holds a request until the test lets it go, and counts it held before it is answered', async () => {
    const p = await proxy('dynamodb');
    let release!: () => void;
    const until = new Promise<void>((r) => {
      release = r;
    });
    p.setRules([{ operation: 'GetItem', rate: 1, limit: 1, fault: { kind: 'hold', until } }]);
    const client = new DynamoDBClient({ ...once, endpoint: p.endpoint });
    const get = () => client.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'a' } } }));
    received.length = 0;
    let answered = false;
    const held = get().then(() => {
      answered = true;
    });
    await expect.poll(() => p.injected()['GetItem:hold'], { interval: 5 }).toBe(1);
    // Held: the service has not seen it, and a second one (past the limit) goes by it.
    await get();
    expect(received).toHaveLength(1);
    expect(answered).toBe(false);
    release();
    await held;
    expect(answered).toBe(true);
    expect(received).toHaveLength(2);
  });

  it('drops the connection, and stops after a burst of the size asked', async () => {
    const p = await proxy('dynamodb');
    p.setRules([{ rate: 1, limit: 2, fault: { kind: 'drop' } }]);
    const client = new DynamoDBClient({ ...once, endpoint: p.endpoint });
    const get = () => client.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'a' } } }));
    await expect(get()).rejects.toThrow();
    await expect(get()).rejects.toThrow();
    await expect(get()).resolves.toMatchObject({ $metadata: { httpStatusCode: 200 } });
    expect(p.injected()).toEqual({ 'GetItem:drop': 2 });
  });

  it('draws the same faults from the same seed', async () => {
    const run = async () => {
      const p = await proxy('dynamodb', 42);
      p.setRules([{ rate: 0.3, fault: { kind: 'status', status: 503 } }]);
      const client = new DynamoDBClient({ ...once, endpoint: p.endpoint });
      const outcomes: string[] = [];
      for (let i = 0; i < 20; i += 1) {
        outcomes.push(
          await client.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'a' } } })).then(
            () => 'ok',
            (e: { name: string }) => e.name,
          ),
        );
      }
      return outcomes;
    };
    const first = await run();
    expect(first).toContain('ServiceUnavailable');
    expect(await run()).toEqual(first);
  });
});
