/**
 * The pace buckets' store (shared/store/pacing.ts) on DynamoDB Local: a bucket never
 * written, the conditions of a first and of a later write, each bucket its own item under
 * its own key, and two pacers over the table whose takers race each other.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedAws, startEmbeddedAws } from '#infra/local/embedded-aws.ts';
import type { Table } from '#shared/adapters/dynamodb.ts';
import { type BucketStore, createPacer } from '#shared/delivery/pacing.ts';
import type { BucketState, PaceLimit } from '#shared/domain/destinations.ts';
import { createBucketStore, type DynamoBucketStore } from '#shared/store/pacing.ts';
import { type Grant, ROUNDING_MESSAGES, worstExcess } from '#test/support/pace-windows.ts';
import { tableAt } from '#test/support/table.ts';

let aws: EmbeddedAws | undefined;
let table: Table;
let buckets: DynamoBucketStore;

beforeAll(async () => {
  aws = await startEmbeddedAws();
  table = tableAt(aws.env);
  buckets = createBucketStore(table);
});

afterAll(async () => {
  await aws?.stop();
});

const appBucket = () => `app:pace-${Math.random().toString(36).slice(2, 10)}`;
const state = (version: number, tat = 1_780_000_000_000): BucketState => ({
  tat,
  rate: 10,
  configured: 10,
  version,
});

describe('the pace bucket store', () => {
  it('reads nothing for a bucket never written', async () => {
    expect(await buckets.read(appBucket())).toBeUndefined();
  });

  it('stores a first write only while the bucket has no item', async () => {
    const store = buckets;
    const bucket = appBucket();
    expect(await store.write(bucket, state(1), undefined)).toBe(true);
    expect(await store.read(bucket)).toEqual(state(1));
    expect(await store.write(bucket, state(1, 1), undefined)).toBe(false);
    expect(await store.read(bucket)).toEqual(state(1));
  });

  it('stores a write on the version read, and refuses one on a version that changed since', async () => {
    const store = buckets;
    const bucket = appBucket();
    await store.write(bucket, state(1), undefined);
    const withThrottle: BucketState = {
      ...state(2, 1_780_000_000_500),
      rate: 5,
      throttledAt: 7,
      halvedAt: 7,
    };
    expect(await store.write(bucket, withThrottle, 1)).toBe(true);
    // Another consumer that read version 1 too.
    expect(await store.write(bucket, state(2, 1), 1)).toBe(false);
    expect(await store.read(bucket)).toEqual(withThrottle);
  });

  it("keeps each app's bucket and the default channel's as items of their own, under their own keys", async () => {
    const store = buckets;
    const [a, b] = [appBucket(), appBucket()];
    await store.write(a, state(1, 1), undefined);
    await store.write(b, state(1, 2), undefined);
    await store.write('default', state(1, 3), undefined);
    expect((await store.read(a))?.tat).toBe(1);
    expect((await store.read(b))?.tat).toBe(2);
    expect((await store.read('default'))?.tat).toBe(3);
    const item = async (pk: string) =>
      (await table.client.send(new GetCommand({ TableName: table.tableName, Key: { pk, sk: 'PACE' } }))).Item;
    expect(await item(`APP#${a.slice('app:'.length)}`)).toMatchObject({ bucket: a, tat: 1 });
    expect(await item(`APP#${b.slice('app:'.length)}`)).toMatchObject({ bucket: b, tat: 2 });
    expect(await item('DEPLOYMENT')).toMatchObject({ bucket: 'default', tat: 3 });
  });
});

describe('two pacers over the table', () => {
  it('give takers racing each other no more than burst + rate·t over any window', async () => {
    let lost = 0;
    const counting: BucketStore = {
      read: (bucket) => buckets.read(bucket),
      async write(bucket, next, expected) {
        const stored = await buckets.write(bucket, next, expected);
        if (!stored) lost += 1;
        return stored;
      },
    };
    const pacers = [1, 2].map(() =>
      createPacer({ store: counting, clock: { now: () => Date.now() }, sleep: (ms) => sleep(ms) }),
    );
    const limit: PaceLimit = { bucket: appBucket(), ratePerSecond: 50, burst: 10 };
    const sizes = [10, 3, 7, 1, 10, 5];
    const grants: Grant[] = [];
    // Four takers per pacer, eight takes each, reserving as far ahead as it takes.
    await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        for (let k = 0; k < 8; k += 1) {
          const n = sizes[(i + k) % sizes.length] as number;
          const grant = await (pacers[i % 2] as (typeof pacers)[number]).take(limit, n, 600_000);
          if (!('at' in grant)) throw new Error(`take ${k} of taker ${i} was not granted`);
          grants.push({ at: grant.at, n });
        }
      }),
    );
    expect(grants).toHaveLength(64);
    expect(worstExcess(grants, limit)).toBeLessThanOrEqual(ROUNDING_MESSAGES);
    // Every token is in the bucket's state: the last reservation ends where the tokens say.
    const sent = grants.reduce((sum, g) => sum + g.n, 0);
    const first = Math.min(...grants.map((g) => g.at));
    const stored = await buckets.read(limit.bucket);
    expect(stored?.tat).toBeGreaterThanOrEqual(first + (sent * 1000) / limit.ratePerSecond - 1e-3);
    // And the takers did race: some writes lost to another's.
    expect(lost).toBeGreaterThan(0);
  });
});
