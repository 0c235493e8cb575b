/**
 * The pacing core (shared/delivery/pacing.ts) over a bucket store in memory and a clock
 * the tests move: what a full bucket grants, reservations, concurrent takers whose
 * conditional writes collide (checked against `burst + rate·t` over every window of a
 * simulated minute), the rate's halving on a 429 and its climb back, and the bound on
 * lost writes.
 */
import { describe, expect, it } from 'vitest';
import {
  type BucketState,
  type BucketStore,
  createPacer,
  PACE_BACKOFF_CAP_MS,
  PACE_MAX_TRIES,
  type PaceGrant,
  type Pacer,
} from '#shared/delivery/pacing.ts';
import type { PaceLimit } from '#shared/domain/destinations.ts';
import { type Grant, ROUNDING_MESSAGES, worstExcess } from '#test/support/pace-windows.ts';

/** Some time in 2026, so nothing depends on a clock that starts at 0. */
const T0 = 1_780_000_000_000;
const limit: PaceLimit = { bucket: 'app:a', ratePerSecond: 10, burst: 5 };

/**
 * Buckets in memory, with the store's condition. With `yields`, every read and write
 * waits for a turn of the event loop first, so takers running at once interleave between
 * their read and their write, and their conditional writes collide.
 */
function memoryStore(options: { yields?: boolean } = {}) {
  const items = new Map<string, BucketState>();
  const counts = { writes: 0, lost: 0 };
  const turn = () => (options.yields ? new Promise<void>((resolve) => setImmediate(resolve)) : undefined);
  const store: BucketStore = {
    async read(bucket) {
      await turn();
      const item = items.get(bucket);
      return item && { ...item };
    },
    async write(bucket, next, expectedVersion) {
      await turn();
      counts.writes += 1;
      if (items.get(bucket)?.version !== expectedVersion) {
        counts.lost += 1;
        return false;
      }
      items.set(bucket, { ...next });
      return true;
    },
  };
  return { store, items, counts };
}

function setup(start = T0, store = memoryStore()) {
  const clock = { t: start, now: () => clock.t };
  const changes: [bucket: string, rate: number, configured: number][] = [];
  const pacer = createPacer({
    store: store.store,
    clock,
    onRateChange: (bucket, rate, configured) => changes.push([bucket, rate, configured]),
  });
  return { ...store, clock, pacer, changes };
}

describe('a take', () => {
  it('grants a full bucket (a missing item) burst tokens at once, then one more every 1/rate seconds', async () => {
    const { pacer, clock } = setup();
    for (let i = 0; i < limit.burst; i += 1) expect(await pacer.take(limit, 1, 0)).toEqual({ at: T0 });
    expect(await pacer.take(limit, 1, 0)).toEqual({ retryAt: T0 + 100 });
    clock.t = T0 + 100;
    expect(await pacer.take(limit, 1, 0)).toEqual({ at: T0 + 100 });
    expect(await pacer.take(limit, 1, 0)).toEqual({ retryAt: T0 + 200 });
  });

  it('spaces takes of a whole chunk n/rate seconds apart', async () => {
    const { pacer } = setup();
    const ats: number[] = [];
    for (let i = 0; i < 4; i += 1) ats.push(((await pacer.take(limit, 5, 10_000)) as { at: number }).at);
    expect(ats).toEqual([T0, T0 + 500, T0 + 1000, T0 + 1500]);
  });

  it('reserves tokens that come within maxWaitMs and answers the future time to send at', async () => {
    const { pacer, items } = setup();
    await pacer.take(limit, 5, 0);
    expect(await pacer.take(limit, 5, 500)).toEqual({ at: T0 + 500 });
    expect(items.get('app:a')?.tat).toBe(T0 + 1000);
  });

  it('takes nothing when the tokens come later than maxWaitMs, and answers when they come', async () => {
    const { pacer, items, counts, clock } = setup();
    await pacer.take(limit, 5, 0);
    const before = { ...items.get('app:a') };
    const writes = counts.writes;
    expect(await pacer.take(limit, 5, 499)).toEqual({ retryAt: T0 + 500 });
    expect(items.get('app:a')).toEqual(before);
    expect(counts.writes).toBe(writes);
    clock.t = T0 + 500;
    expect(await pacer.take(limit, 5, 0)).toEqual({ at: T0 + 500 });
  });

  it('of more than burst tokens conforms once the bucket is full, and counts every token', async () => {
    const { pacer } = setup();
    expect(await pacer.take(limit, 8, 0)).toEqual({ at: T0 });
    expect(await pacer.take(limit, 8, 799)).toEqual({ retryAt: T0 + 800 });
    expect(await pacer.take(limit, 8, 800)).toEqual({ at: T0 + 800 });
    // 16 tokens taken: the bucket is full again at T0 + 1600, and a chunk of 5 comes then.
    expect(await pacer.take(limit, 5, 10_000)).toEqual({ at: T0 + 1600 });
  });

  it('after losing its write to another consumer reads again and counts that consumer’s tokens', async () => {
    const memory = memoryStore();
    const other = createPacer({ store: memory.store, clock: { now: () => T0 } });
    let raced = false;
    const racing: BucketStore = {
      read: memory.store.read,
      async write(bucket, next, expected) {
        // Another consumer takes a whole chunk between this one's read and its write.
        if (!raced) {
          raced = true;
          await other.take(limit, 5, 0);
        }
        return memory.store.write(bucket, next, expected);
      },
    };
    const { pacer } = setup(T0, { ...memory, store: racing });
    expect(await pacer.take(limit, 5, 1000)).toEqual({ at: T0 + 500 });
    expect(memory.counts.lost).toBe(1);
  });
});

/**
 * Takers at once over one store whose reads and writes yield, in simulated time: each
 * takes a chunk, sends at its `at` (a grant), then takes again at the next tick of a
 * 50 ms grid; a `retryAt` waits for it, on the grid too. The grid wakes many takers at
 * the same instant, so their reads see the same version and their writes collide.
 */
async function simulate(options: {
  limit: PaceLimit;
  takers: number;
  sizes: readonly number[];
  maxWaits: readonly number[];
  durationMs: number;
}) {
  const memory = memoryStore({ yields: true });
  const { pacer, clock } = setup(T0, memory);
  const tick = (t: number) => Math.ceil(t / 50) * 50;
  const sleepers: { t: number; wake: () => void }[] = [];
  let running = options.takers;
  const sleepUntil = (t: number) =>
    new Promise<void>((wake) => {
      sleepers.push({ t: Math.max(tick(t), clock.t), wake });
      running -= 1;
    });
  const grants: Grant[] = [];
  async function taker(i: number, p: Pacer) {
    for (let k = 0; clock.t < T0 + options.durationMs; k += 1) {
      const n = options.sizes[(i + k) % options.sizes.length] as number;
      const grant: PaceGrant = await p.take(
        options.limit,
        n,
        options.maxWaits[i % options.maxWaits.length] ?? 0,
      );
      if ('at' in grant) {
        expect(grant.at).toBeGreaterThanOrEqual(clock.t);
        grants.push({ at: grant.at, n });
        await sleepUntil(grant.at + 1);
      } else {
        await sleepUntil(grant.retryAt);
      }
    }
  }
  const done = Promise.all(
    Array.from({ length: options.takers }, (_, i) => taker(i, pacer).finally(() => (running -= 1))),
  );
  for (;;) {
    // Let every taker run until it sleeps or ends (each read and write takes a turn).
    for (let turns = 0; running > 0; turns += 1) {
      if (turns > 100_000) throw new Error('the takers never went to sleep');
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (sleepers.length === 0) break;
    const t = Math.min(...sleepers.map((s) => s.t));
    clock.t = t;
    const waking = sleepers.filter((s) => s.t === t);
    sleepers.splice(0, sleepers.length, ...sleepers.filter((s) => s.t !== t));
    running += waking.length;
    for (const s of waking) s.wake();
  }
  await done;
  return { grants, lost: memory.counts.lost };
}

describe('concurrent takers', () => {
  it.each([
    { ratePerSecond: 10, burst: 5, sizes: [5, 3, 1, 4, 2] },
    { ratePerSecond: 7.5, burst: 7, sizes: [7, 1, 6] },
    { ratePerSecond: 100, burst: 100, sizes: [100, 37, 64] },
  ])(
    'never get more than burst + rate·t over any window of a simulated minute ($ratePerSecond/s, burst $burst)',
    async ({ ratePerSecond, burst, sizes }) => {
      const paced: PaceLimit = { bucket: 'default', ratePerSecond, burst };
      const { grants, lost } = await simulate({
        limit: paced,
        takers: 8,
        sizes,
        maxWaits: [0, 250, 1000, 5000],
        durationMs: 60_000,
      });
      // The takers did collide, and kept the destination busy.
      expect(lost).toBeGreaterThan(0);
      const sent = grants.reduce((sum, g) => sum + g.n, 0);
      expect(sent).toBeGreaterThan(ratePerSecond * 60 * 0.9);
      expect(worstExcess(grants, paced)).toBeLessThanOrEqual(ROUNDING_MESSAGES);
    },
  );
});

/** `count` takers that read the same state at once, each taking a chunk, over a store whose reads and writes yield. */
function herd(count: number, sleep?: (ms: number) => Promise<void>) {
  const { store } = memoryStore({ yields: true });
  const pacer = createPacer({ store, clock: { now: () => T0 }, ...(sleep ? { sleep } : {}) });
  const paced: PaceLimit = { bucket: 'default', ratePerSecond: 100, burst: 10 };
  return Promise.allSettled(Array.from({ length: count }, () => pacer.take(paced, 10, 60_000)));
}

/** A turn of the event loop per millisecond: a read or a write takes one. */
const turns = async (ms: number) => {
  for (let i = 0; i < Math.ceil(ms); i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
};

describe('takers that read the same state at once', () => {
  it(`are served one per round without a backoff: ${PACE_MAX_TRIES} get their tokens, one more gives up`, async () => {
    const served = await herd(PACE_MAX_TRIES);
    expect(served.map((r) => r.status)).toEqual(Array(PACE_MAX_TRIES).fill('fulfilled'));
    const ats = served.map((r) => (r as PromiseFulfilledResult<{ at: number }>).value.at);
    expect(ats).toEqual(Array.from({ length: PACE_MAX_TRIES }, (_, i) => T0 + i * 100));
    const tooMany = await herd(PACE_MAX_TRIES + 1);
    expect(tooMany.filter((r) => r.status === 'rejected')).toHaveLength(1);
  });

  it('with a backoff all get their tokens, 100 at once', async () => {
    const sleeps: number[] = [];
    const served = await herd(100, (ms) => {
      sleeps.push(ms);
      return turns(ms);
    });
    expect(served.filter((r) => r.status === 'rejected')).toEqual([]);
    const ats = served
      .map((r) => (r as PromiseFulfilledResult<{ at: number }>).value.at)
      .sort((a, b) => a - b);
    expect(ats).toEqual(Array.from({ length: 100 }, (_, i) => T0 + i * 100));
    expect(Math.max(...sleeps)).toBeLessThanOrEqual(PACE_BACKOFF_CAP_MS);
  });
});

describe('a 429', () => {
  it('halves the rate once per cooldown, however many consumers report the same 429', async () => {
    const { pacer, clock, changes } = setup();
    const rates = await Promise.all([1, 2, 3, 4].map(() => pacer.throttled(limit)));
    expect(rates).toEqual([5, 5, 5, 5]);
    clock.t = T0 + 999;
    expect(await pacer.throttled(limit)).toBe(5);
    clock.t = T0 + 1000;
    expect(await pacer.throttled(limit)).toBe(2.5);
    expect(changes).toEqual([
      ['app:a', 5, 10],
      ['app:a', 2.5, 10],
    ]);
  });

  it('keeps a storm halving the rate every second down to 1 message per second, and no lower', async () => {
    const { pacer, clock } = setup();
    const fast: PaceLimit = { bucket: 'app:a', ratePerSecond: 40, burst: 40 };
    const rates: number[] = [];
    // A 429 every half second for ten seconds.
    for (let t = 0; t <= 10_000; t += 500) {
      clock.t = T0 + t;
      const rate = await pacer.throttled(fast);
      if (t % 1000 === 0) rates.push(rate);
    }
    expect(rates).toEqual([20, 10, 5, 2.5, 1.25, 1, 1, 1, 1, 1, 1]);
  });

  it('spaces the takes after it at the halved rate, with the tokens the bucket had', async () => {
    const { pacer } = setup();
    await pacer.take(limit, 5, 0);
    await pacer.throttled(limit);
    // Empty at 10/s is empty at 5/s: a chunk of 5 comes a second later, then every second.
    expect(await pacer.take(limit, 5, 10_000)).toEqual({ at: T0 + 1000 });
    expect(await pacer.take(limit, 5, 10_000)).toEqual({ at: T0 + 2000 });
  });

  it('with Retry-After grants no take of any size before it ends, then one token', async () => {
    const { pacer, clock } = setup();
    await pacer.throttled(limit, 3000);
    clock.t = T0 + 2999;
    for (let n = 1; n <= limit.burst; n += 1) {
      const grant = await pacer.take(limit, n, 0);
      expect((grant as { retryAt: number }).retryAt).toBeGreaterThanOrEqual(T0 + 3000);
    }
    clock.t = T0 + 3000;
    expect(await pacer.take(limit, 1, 0)).toEqual({ at: T0 + 3000 });
    expect(await pacer.take(limit, 1, 0)).toEqual({ retryAt: T0 + 3200 });
  });

  it('with a Retry-After shorter than the reservations made keeps every reservation after it', async () => {
    const { pacer } = setup();
    await pacer.take(limit, 5, 0);
    await pacer.take(limit, 5, 10_000);
    await pacer.throttled(limit, 100);
    // Two chunks were reserved up to T0 + 1000 at 10/s, that is T0 + 2000 at 5/s.
    expect(await pacer.take(limit, 5, 10_000)).toEqual({ at: T0 + 2000 });
  });
});

describe('the rate after a 429', () => {
  const configured: PaceLimit = { bucket: 'app:a', ratePerSecond: 100, burst: 100 };

  it('climbs back a tenth of the configured rate per quiet second, up to it and never above', async () => {
    const { pacer, clock, changes } = setup();
    await pacer.throttled(configured);
    clock.t = T0 + 999;
    await pacer.take(configured, 1, 0);
    clock.t = T0 + 1000;
    await pacer.take(configured, 1, 0);
    clock.t = T0 + 3500;
    await pacer.take(configured, 1, 0);
    // Steps count from the last whole one (T0 + 3000), not from the take that made it.
    clock.t = T0 + 4000;
    await pacer.take(configured, 1, 0);
    clock.t = T0 + 100_000;
    await pacer.take(configured, 1, 0);
    clock.t = T0 + 200_000;
    await pacer.take(configured, 1, 0);
    expect(changes).toEqual([
      ['app:a', 50, 100],
      ['app:a', 60, 100],
      ['app:a', 80, 100],
      ['app:a', 90, 100],
      ['app:a', 100, 100],
    ]);
  });

  it('climbs at least 1 message per second when a tenth of the configured rate is less', async () => {
    const { pacer, clock, changes } = setup();
    const slow: PaceLimit = { bucket: 'app:a', ratePerSecond: 5, burst: 5 };
    await pacer.throttled(slow);
    for (let s = 1; s <= 4; s += 1) {
      clock.t = T0 + s * 1000;
      await pacer.take(slow, 1, 10_000);
    }
    expect(changes.map(([, rate]) => rate)).toEqual([2.5, 3.5, 4.5, 5]);
  });

  it('does not climb while 429s keep coming, even less than a cooldown apart', async () => {
    const { pacer, clock, changes } = setup();
    await pacer.throttled(configured);
    for (let t = 400; t <= 900; t += 500) {
      clock.t = T0 + t;
      await pacer.throttled(configured);
    }
    clock.t = T0 + 1800;
    await pacer.take(configured, 1, 0);
    expect(changes).toEqual([['app:a', 50, 100]]);
    clock.t = T0 + 1900;
    await pacer.take(configured, 1, 0);
    expect(changes).toEqual([
      ['app:a', 50, 100],
      ['app:a', 60, 100],
    ]);
  });

  it('is replaced by a changed configured rate, lower or higher', async () => {
    const { pacer, items, changes } = setup();
    await pacer.throttled(configured);
    await pacer.take({ ...configured, ratePerSecond: 20 }, 1, 0);
    expect(items.get('app:a')).toMatchObject({ rate: 20, configured: 20 });
    await pacer.take({ ...configured, ratePerSecond: 400 }, 1, 0);
    expect(items.get('app:a')).toMatchObject({ rate: 400, configured: 400 });
    expect(changes).toEqual([
      ['app:a', 50, 100],
      ['app:a', 20, 20],
      ['app:a', 400, 400],
    ]);
  });
});

describe('lost writes', () => {
  const losing = () => {
    let writes = 0;
    const store: BucketStore = {
      read: async () => undefined,
      write: async () => {
        writes += 1;
        return false;
      },
    };
    return { store, writes: () => writes };
  };

  it(`make a take give up with a clear error after ${PACE_MAX_TRIES} in a row`, async () => {
    const { store, writes } = losing();
    const pacer = createPacer({ store, clock: { now: () => T0 } });
    await expect(pacer.take(limit, 1, 0)).rejects.toThrow(
      `Pacing bucket 'app:a': a take lost ${PACE_MAX_TRIES} conditional writes in a row`,
    );
    expect(writes()).toBe(PACE_MAX_TRIES);
  });

  it(`make a throttle give up with a clear error after ${PACE_MAX_TRIES} in a row`, async () => {
    const { store, writes } = losing();
    const pacer = createPacer({ store, clock: { now: () => T0 } });
    await expect(pacer.throttled(limit)).rejects.toThrow(
      `Pacing bucket 'app:a': a throttle lost ${PACE_MAX_TRIES} conditional writes in a row`,
    );
    expect(writes()).toBe(PACE_MAX_TRIES);
  });
});
