/**
 * A fault-injecting delivery channel for tests: fails a seeded fraction of calls with
 * a `TransientDeliveryError`, always fails a chosen set of user ids with a
 * `PermanentDeliveryError`, and records everything, so a test can assert retries,
 * failure reasons and "delivered at most once" exactly and reproducibly.
 */
import {
  type DeliveryChannel,
  type DeliveryMessage,
  PermanentDeliveryError,
  TransientDeliveryError,
} from '#shared/domain/channel.ts';

export interface FlakyChannelOptions {
  /** Fraction of calls, from 0 to 1, that fail transiently (default 0). */
  transientRate?: number;
  /** Seed of the draws: the same seed and call order give the same failures (default 1). */
  seed?: number;
  /** These users always fail permanently. */
  permanentUserIds?: Iterable<string>;
  /** Called for the calls that succeed (an outbox channel, say); none by default. */
  inner?: DeliveryChannel;
}

export interface FlakyChannel extends DeliveryChannel {
  /** Every call, in order, whatever its outcome. */
  readonly calls: DeliveryMessage[];
  /** The calls that succeeded, in order. */
  readonly delivered: DeliveryMessage[];
  /** How many times each user id was delivered successfully. */
  deliveredCount(userId: string): number;
  readonly transientFailures: number;
  readonly permanentFailures: number;
}

/** mulberry32: a tiny, good-enough seeded generator of numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function createFlakyChannel(options: FlakyChannelOptions = {}): FlakyChannel {
  const rate = options.transientRate ?? 0;
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`transientRate must be from 0 to 1, got ${rate}`);
  const random = seededRandom(options.seed ?? 1);
  const permanent = new Set(options.permanentUserIds ?? []);
  const calls: DeliveryMessage[] = [];
  const delivered: DeliveryMessage[] = [];
  const counts = new Map<string, number>();
  let transientFailures = 0;
  let permanentFailures = 0;

  return {
    name: 'flaky',
    calls,
    delivered,
    deliveredCount: (userId) => counts.get(userId) ?? 0,
    get transientFailures() {
      return transientFailures;
    },
    get permanentFailures() {
      return permanentFailures;
    },
    async deliver(message) {
      calls.push(message);
      if (permanent.has(message.userId)) {
        permanentFailures += 1;
        throw new PermanentDeliveryError(`user '${message.userId}' does not accept messages (injected)`);
      }
      if (random() < rate) {
        transientFailures += 1;
        throw new TransientDeliveryError(`channel unavailable (injected) for '${message.userId}'`);
      }
      await options.inner?.deliver(message);
      delivered.push(message);
      counts.set(message.userId, (counts.get(message.userId) ?? 0) + 1);
    },
  };
}
