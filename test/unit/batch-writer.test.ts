import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchWriteItemCommandOutput } from '@aws-sdk/client-dynamodb';
import type { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import type { Table } from '#shared/adapters/dynamodb-table.ts';
import { BatchWriter } from '#shared/store/recipients.ts';

/** The table written to: named `unused`, with no client, since every call goes to the test's `send`. */
const table: Table = {
  get client(): never {
    throw new Error('the BatchWriter called the table client instead of the send it was given');
  },
  tableName: 'unused',
  recipientShards: 1,
};

type Put = { PutRequest: { Item: Record<string, unknown> } };
const putsOf = (command: BatchWriteCommand) => (command.input.RequestItems?.unused ?? []) as Put[];
/** An answer leaving `puts` unprocessed (the document client's plain items, as the writer reads them). */
const leaving = (puts: Put[]) =>
  ({ UnprocessedItems: { unused: puts } }) as unknown as Pick<
    BatchWriteItemCommandOutput,
    'UnprocessedItems'
  >;
const items = (n: number) => Array.from({ length: n }, (_, i) => ({ pk: `P#${i}`, sk: 'S' }));
const fast = { baseDelayMs: 0, maxDelayMs: 0 };

/** A throttling error as the SDK throws it once its own retries are spent. */
const throttled = () =>
  Object.assign(new Error('Rate exceeded'), {
    name: 'ProvisionedThroughputExceededException',
    $metadata: { httpStatusCode: 400 },
  });

describe('BatchWriter', () => {
  it('has at most `concurrency` calls in flight, and write waits while they are all taken', async () => {
    let inFlight = 0;
    let most = 0;
    const held: (() => void)[] = [];
    const writer = new BatchWriter({
      table,
      concurrency: 2,
      ...fast,
      send: async () => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise<void>((resolve) => held.push(resolve));
        inFlight -= 1;
        return {};
      },
    });
    let handedOver = false;
    const writing = writer.write(items(100)).then(() => {
      handedOver = true;
    });
    await vi.waitFor(() => expect(held).toHaveLength(2));
    // Two calls in flight, a third waiting for a slot: the writer is held back.
    await sleep(20);
    expect(handedOver).toBe(false);
    while (!handedOver) {
      held.shift()?.();
      await sleep(1);
    }
    const flushed = writer.flush();
    while (held.length > 0 || inFlight > 0) {
      held.shift()?.();
      await sleep(1);
    }
    await flushed;
    await writing;
    expect(most).toBe(2);
    expect(writer.written).toBe(100);
  });

  it('sends the items DynamoDB left unprocessed again, and counts each item written once', async () => {
    const sent: number[] = [];
    const writer = new BatchWriter({
      table,
      ...fast,
      send: async (command) => {
        const puts = putsOf(command);
        sent.push(puts.length);
        // The first answer leaves ten items unprocessed.
        return sent.length === 1 ? leaving(puts.slice(15)) : {};
      },
    });
    await writer.write(items(25));
    await writer.flush();
    expect(sent).toEqual([25, 10]);
    expect(writer.written).toBe(25);
  });

  it('gives up after maxAttempts calls that each leave items unprocessed', async () => {
    let calls = 0;
    const writer = new BatchWriter({
      table,
      ...fast,
      maxAttempts: 4,
      send: async (command) => {
        calls += 1;
        return leaving(putsOf(command).slice(1));
      },
    });
    await writer.write(items(10));
    await expect(writer.flush()).rejects.toThrow('DynamoDB left 6 of 7 items unprocessed after 4 attempts');
    expect(calls).toBe(4);
    expect(writer.written).toBe(4);
  });

  it('sends a call throttled beyond the SDK retries again, and throws any other failure at once', async () => {
    let calls = 0;
    const writer = new BatchWriter({
      table,
      ...fast,
      send: async () => {
        calls += 1;
        if (calls <= 2) throw throttled();
        return {};
      },
    });
    await writer.write(items(3));
    await writer.flush();
    expect(calls).toBe(3);
    expect(writer.written).toBe(3);

    let refused = 0;
    const denied = new BatchWriter({
      table,
      ...fast,
      send: async () => {
        refused += 1;
        throw Object.assign(new Error('denied'), {
          name: 'AccessDeniedException',
          $metadata: { httpStatusCode: 400 },
        });
      },
    });
    await denied.write(items(3));
    await expect(denied.flush()).rejects.toThrow('denied');
    expect(refused).toBe(1);
  });

  it('stops after a failure: the next write throws it and sends nothing more', async () => {
    let calls = 0;
    const writer = new BatchWriter({
      table,
      concurrency: 1,
      ...fast,
      send: async () => {
        calls += 1;
        throw new Error('broken');
      },
    });
    await writer.write(items(25));
    await vi.waitFor(() => expect(calls).toBe(1));
    await sleep(5);
    await expect(writer.write(items(25))).rejects.toThrow('broken');
    await expect(writer.flush()).rejects.toThrow('broken');
    expect(calls).toBe(1);
  });
});
