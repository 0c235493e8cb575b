/**
 * The deliver core with a paced destination (shared/delivery/deliver.ts, "Pacing"): a
 * chunk's tokens are taken after its claim and before its channel call; a chunk with no
 * tokens in time goes back on the queue with the chunks after it, as a new delayed
 * message; a 429 during the call slows the bucket. Over in-memory ports and a scripted
 * pacer, so every answer of the bucket is chosen by the test.
 */
import { describe, expect, it } from 'vitest';
import {
  createDeliverer,
  MAX_REQUEUE_DELAY_SECONDS,
  PACE_MAX_TAKES,
  PACE_MAX_WAIT_MS,
} from '#shared/delivery/deliver.ts';
import type { Pacer } from '#shared/delivery/ports.ts';
import { chunksOf, type DeliveryBatch } from '#shared/domain/delivery-batches.ts';
import type { PaceLimit } from '#shared/domain/destinations.ts';
import { campaignBatch, greetingTemplate, memoryWorld } from '#test/support/memory-delivery.ts';

const template = greetingTemplate;

const pace: PaceLimit = { bucket: 'app:app', ratePerSecond: 10, burst: 10 };

/** The bucket's answer to a take at `now` (the fake clock). */
type Answer = (now: number) => { at: number } | { retryAt: number };

function setup(n: number, answers: Answer[], options: { paced?: boolean } = {}) {
  const userIds = Array.from({ length: n }, (_, i) => `u${i}`);
  const world = memoryWorld({ template, userIds });
  const takes: { n: number; maxWaitMs: number; at: number }[] = [];
  const throttles: (number | undefined)[] = [];
  const requeued: { batch: DeliveryBatch; delaySeconds: number }[] = [];
  const pacer: Pacer = {
    async take(limit, count, maxWaitMs) {
      // The destination's bucket, taken one chunk deep: grants come evenly spaced, never bunched.
      expect(limit).toEqual({ ...pace, burst: count });
      takes.push({ n: count, maxWaitMs, at: world.clock.ms });
      const answer = answers.shift();
      if (!answer) throw new Error('the test gave the pacer no answer for this take');
      return answer(world.clock.ms);
    },
    async throttled(_limit, retryAfterMs) {
      throttles.push(retryAfterMs);
      return 5;
    },
  };
  world.ports.pacing = {
    pacer,
    async requeue(batch, delaySeconds) {
      requeued.push({ batch: structuredClone(batch), delaySeconds });
    },
  };
  world.ports.channels.paceFor = async () => (options.paced === false ? undefined : pace);
  const deliverer = createDeliverer(world.ports, {
    maxReceiveCount: 5,
    claimCutoffMs: 20_000,
    shardOf: () => 0,
  });
  const batch = campaignBatch(userIds, 10);
  const callTimes: number[] = [];
  world.answer = async (b) => {
    callTimes.push(world.clock.ms);
    return b.messages.map(() => ({ status: 'accepted' as const }));
  };
  const receive = (message: DeliveryBatch = batch, messageId = 'm1', timeLeft = 60_000) =>
    deliverer.deliverMessage({ batch: message, messageId, receiveCount: 1, timeLeft: () => timeLeft });
  const statuses = () => Object.fromEntries([...world.recipients].map(([u, r]) => [u, r.status]));
  return { world, batch, receive, answers, takes, throttles, requeued, callTimes, statuses, userIds };
}

const now = (t: number) => ({ at: t });

describe('deliver core, paced', () => {
  it('takes one chunk of tokens per chunk, and waits in process until a reserved grant', async () => {
    const { world, receive, takes, callTimes, statuses, userIds } = setup(20, [
      now,
      (t) => ({ at: t + 700 }),
    ]);
    const start = world.clock.ms;
    const result = await receive();
    expect(result.counted.sent).toBe(20);
    expect(result.requeued).toBeUndefined();
    expect(takes.map((t) => t.n)).toEqual([10, 10]);
    // Never longer in process than PACE_MAX_WAIT_MS, and never past the claim cut-off.
    expect(takes.map((t) => t.maxWaitMs)).toEqual([PACE_MAX_WAIT_MS, PACE_MAX_WAIT_MS]);
    // The second chunk's channel call waits for its grant, 700 ms after the take.
    expect(callTimes).toEqual([start, start + 700]);
    expect(statuses()).toEqual(Object.fromEntries(userIds.map((u) => [u, 'sent'])));
  });

  it('takes a new slot when it wakes well past its own (a stalled host), so late sends never bunch', async () => {
    const { world, receive, takes, callTimes } = setup(10, [
      (t) => ({ at: t + 1_000 }),
      (t) => ({ at: t + 500 }),
    ]);
    const start = world.clock.ms;
    // The first sleep oversleeps by a second, as a starved process does.
    let stalls = 1;
    world.onSleep = () => {
      if (stalls-- > 0) world.clock.ms += 1_000;
    };
    expect((await receive()).counted.sent).toBe(10);
    expect(takes.map((t) => t.at)).toEqual([start, start + 2_000]);
    // Sent at its second slot, not 1 s late at its first.
    expect(callTimes).toEqual([start + 2_500]);
  });

  it('sends after PACE_MAX_TAKES late wakes rather than take slots forever', async () => {
    const { world, receive, takes, callTimes } = setup(10, [
      (t) => ({ at: t + 100 }),
      (t) => ({ at: t + 100 }),
      (t) => ({ at: t + 100 }),
    ]);
    world.onSleep = () => {
      world.clock.ms += 1_000;
    };
    expect((await receive()).counted.sent).toBe(10);
    expect(takes).toHaveLength(PACE_MAX_TAKES);
    expect(callTimes).toHaveLength(1);
  });

  it('charges a short last chunk a whole chunk of tokens, so grants stay evenly spaced', async () => {
    const { receive, takes } = setup(25, [now, now, now]);
    expect((await receive()).counted.sent).toBe(25);
    expect(takes.map((t) => t.n)).toEqual([10, 10, 10]);
  });

  it('puts a chunk with no tokens in time back on the queue with the chunks after it, its claim released, and the message done', async () => {
    const { world, batch, receive, answers, requeued, statuses } = setup(30, [
      now,
      (t) => ({ retryAt: t + 4_200 }),
    ]);
    const result = await receive();
    // Not a failed receive: the message is done with, its rest travels as a new message.
    expect(result.retry).toBeUndefined();
    expect(result.counted.sent).toBe(10);
    expect(result.requeued).toEqual({ recipients: 20, delaySeconds: 5 });
    expect(requeued).toHaveLength(1);
    const copy = requeued[0]?.batch as DeliveryBatch;
    expect(requeued[0]?.delaySeconds).toBe(5);
    // The same header and chunk size: the copy's chunks are the original's second and third.
    expect({ ...copy, recipients: undefined }).toEqual({ ...batch, recipients: undefined });
    expect(chunksOf(copy)).toEqual(chunksOf(batch).slice(1));
    // The paced chunk's claim is released (a later receive may claim it); the third was never claimed.
    expect([...world.ledger.keys()]).toEqual(['u0']);
    expect(Object.values(statuses()).filter((s) => s === 'sent')).toHaveLength(10);

    // The copy, received later with tokens, delivers the rest, each recipient once.
    answers.push(now, now);
    const later = await receive(copy, 'm2');
    expect(later.counted.sent).toBe(20);
    expect(world.delivered).toEqual(new Map(Array.from({ length: 30 }, (_, i) => [`u${i}`, 1])));
    expect(world.campaign.status).toBe('sent');
  });

  it('delays a copy by at least 1 second and at most SQS’s 900', async () => {
    for (const [waitMs, expected] of [
      [10, 1],
      [2_000_000, MAX_REQUEUE_DELAY_SECONDS],
    ] as const) {
      const { receive } = setup(10, [(t) => ({ retryAt: t + waitMs })]);
      expect((await receive()).requeued).toEqual({ recipients: 10, delaySeconds: expected });
    }
  });

  it('never waits in process past the claim cut-off', async () => {
    const { receive, takes } = setup(10, [now]);
    // 20.5 s left, 20 s cut-off: at most 500 ms of waiting for tokens.
    await receive(undefined, 'm1', 20_500);
    expect(takes.map((t) => t.maxWaitMs)).toEqual([500]);
  });

  it('takes no tokens for a chunk it does not claim: a cancelled campaign, or a chunk already done', async () => {
    const cancelled = setup(20, []);
    cancelled.world.campaign.status = 'cancelled';
    await cancelled.receive();
    expect(cancelled.takes).toEqual([]);
    expect(Object.values(cancelled.statuses()).filter((s) => s === 'skipped')).toHaveLength(20);

    const done = setup(10, [now]);
    await done.receive();
    await done.receive(undefined, 'm-duplicate');
    expect(done.takes).toHaveLength(1);
    expect(done.world.delivered.get('u0')).toBe(1);
  });

  it('tells the bucket when the far side asks to slow down', async () => {
    const { world, receive, throttles } = setup(10, [now]);
    world.answer = async (b) => {
      b.onThrottle?.(3_000);
      b.onThrottle?.(undefined);
      return b.messages.map(() => ({ status: 'accepted' as const }));
    };
    await receive();
    expect(throttles).toEqual([3_000, undefined]);
  });

  it('asks nothing of the bucket for an app whose destination is not paced', async () => {
    const { world, receive, takes } = setup(20, [], { paced: false });
    world.answer = async (b) => {
      expect(b.onThrottle).toBeUndefined();
      return b.messages.map(() => ({ status: 'accepted' as const }));
    };
    expect((await receive()).counted.sent).toBe(20);
    expect(takes).toEqual([]);
  });
});
