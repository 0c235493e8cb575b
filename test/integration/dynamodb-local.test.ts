/**
 * DynamoDB Local's start-up when the free port it chose is taken before Java binds it, as
 * happens when parallel test files start emulators and servers at the same moment.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startDynamoDbLocal } from '#infra/local/dynamodb-local.ts';
import { freePort } from '#infra/local/free-port.ts';

let squatter: Server | undefined;
afterAll(() => new Promise<void>((resolve) => (squatter ? squatter.close(() => resolve()) : resolve())));

describe('DynamoDB Local start-up', () => {
  it('moves to another port when another server took the one it chose, and never mistakes that server for DynamoDB', async () => {
    // Another HTTP server (like the S3/SQS emulator) answers on the port chosen first.
    squatter = createServer((_, res) => {
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
      res.end('{"__type":"InvalidAction","message":"Unknown action"}');
    });
    await new Promise<void>((resolve) => squatter?.listen(0, '127.0.0.1', resolve));
    const taken = (squatter.address() as AddressInfo).port;
    const chosen: number[] = [];
    const dynamo = await startDynamoDbLocal({
      choosePort: async () => {
        const port = chosen.length === 0 ? taken : await freePort();
        chosen.push(port);
        return port;
      },
    });
    try {
      expect(chosen[0]).toBe(taken);
      expect(dynamo.endpoint).not.toBe(`http://127.0.0.1:${taken}`);
      const res = await fetch(dynamo.endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'DynamoDB_20120810.ListTables',
          authorization:
            'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
        },
        body: '{}',
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ TableNames: [] });
    } finally {
      await dynamo.stop();
    }
  });
});
