/**
 * A fault-injecting delivery channel for tests: fails a seeded fraction of calls (whole
 * batches) with a `TransientDeliveryError`, always rejects the messages of a chosen set
 * of user ids, and records everything, so a test can assert retries, failure reasons and
 * "delivered at most once" exactly and reproducibly.
 */
import {
  type ChannelMessage,
  type ChannelResult,
  type DeliveryChannel,
  TransientDeliveryError,
} from '#shared/domain/channel.ts';

export interface FlakyChannelOptions {
  /** Fraction of calls, from 0 to 1, that fail transiently (default 0). */
  transientRate?: number;
  /** Seed of the draws: the same seed and call order give the same failures (default 1). */
  seed?: number;
  /** The messages of these users are always rejected. */
  permanentUserIds?: Iterable<string>;
  /** Called with the messages not rejected of the calls that succeed (an outbox channel, say). */
  inner?: DeliveryChannel;
  /** The channel's `maxBatchSize` (default 100). */
  maxBatchSize?: number;
}

/** One message handed to the channel, with the batch it came in. */
export interface FlakyCall extends ChannelMessage {
  appId: string;
  campaignId: string;
}

export interface FlakyChannel extends DeliveryChannel {
  /** The messages of every call, in order, whatever the outcome. */
  readonly calls: FlakyCall[];
  /** The messages accepted, in order. */
  readonly delivered: FlakyCall[];
  /** How many times each user id was delivered successfully. */
  deliveredCount(userId: string): number;
  /** Calls that failed transiently. */
  readonly transientFailures: number;
  /** Messages rejected. */
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
  const calls: FlakyCall[] = [];
  const delivered: FlakyCall[] = [];
  const counts = new Map<string, number>();
  let transientFailures = 0;
  let permanentFailures = 0;

  return {
    name: 'flaky',
    maxBatchSize: options.maxBatchSize ?? 100,
    calls,
    delivered,
    deliveredCount: (userId) => counts.get(userId) ?? 0,
    get transientFailures() {
      return transientFailures;
    },
    get permanentFailures() {
      return permanentFailures;
    },
    async deliverBatch(batch) {
      const made = batch.messages.map((m) => ({ appId: batch.appId, campaignId: batch.campaignId, ...m }));
      calls.push(...made);
      const passed = batch.messages.filter((m) => !permanent.has(m.userId));
      // A batch of rejected users only draws nothing, as a lone permanent user always did.
      if (passed.length > 0 && random() < rate) {
        transientFailures += 1;
        const users = passed.map((m) => `'${m.userId}'`).join(', ');
        throw new TransientDeliveryError(`channel unavailable (injected) for ${users}`);
      }
      const inner =
        passed.length > 0 && options.inner
          ? await options.inner.deliverBatch({ ...batch, messages: passed })
          : passed.map((): ChannelResult => ({ status: 'accepted' }));
      if (inner.length !== passed.length)
        throw new Error('the inner channel answered a wrong number of results');
      let next = 0;
      return made.map((message): ChannelResult => {
        if (permanent.has(message.userId)) {
          permanentFailures += 1;
          return {
            status: 'rejected',
            reason: `user '${message.userId}' does not accept messages (injected)`,
          };
        }
        const result = inner[next] as ChannelResult;
        next += 1;
        if (result.status === 'accepted') {
          delivered.push(message);
          counts.set(message.userId, (counts.get(message.userId) ?? 0) + 1);
        } else permanentFailures += 1;
        return result;
      });
    },
  };
}
