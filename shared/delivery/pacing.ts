/**
 * Pacing: the token bucket that keeps deliveries to one destination under its
 * `ratePerSecond`, however many consumers (Lambda instances) send to it at once.
 *
 * One stored state per bucket (`PaceLimit.bucket`), changed only by conditional writes:
 * a consumer reads it, computes the next state and writes it on the condition that
 * nobody wrote in between; when somebody did, it reads again. Consumers take the tokens
 * of a whole chunk (`n` messages) at a time, so the item is written once per chunk, not
 * once per message.
 *
 * The algorithm is GCRA (the generic cell rate algorithm), a token bucket of capacity
 * `burst` refilled at `rate` tokens per second, kept as one number: `tat`, the
 * theoretical arrival time, when the bucket will be full again. With `T = 1000 / rate`
 * (ms per token) and `base = max(tat, now)`, a take of `n` tokens conforms at
 * `allowedAt = base + n·T − burst·T`, and moves `tat` to `base + n·T`. A take that
 * conforms within the caller's `maxWaitMs` reserves its tokens at once and answers when
 * to send (`at`); the caller sleeps until then. Since each reservation is one that would
 * conform at its `at`, the grants are those of a token bucket: over any window of t
 * seconds at most `burst + rate·t` messages are granted. A change of the effective rate
 * keeps the tokens in the bucket as they are (it rescales the time `tat` is ahead of
 * now), so across a change the bound is `burst` plus what refills at each rate in turn.
 *
 * One exception to the bound: a take of more than `burst` tokens could never conform, so
 * it conforms once the bucket is full (`allowedAt = base`) and may exceed the bound by
 * `n − burst`. It only happens when a campaign's chunk size was pinned before the
 * destination's rate was lowered.
 *
 * The effective rate adapts to the far side: a 429 (or a Retry-After) halves it, at most
 * once per `THROTTLE_COOLDOWN_MS` (consumers hit by the same storm halve it once), down to
 * `MIN_EFFECTIVE_RATE`. Once a whole `RATE_STEP_MS` has passed without a 429 and without
 * a rise, it climbs back by `rateStepOf(configured)` per step, never above the configured
 * rate (additive increase, multiplicative decrease): a storm that goes on keeps halving
 * it every cooldown and never lets it climb. A changed configured rate replaces the
 * effective one at once. The climb is lazy: a take works it out from the stored times.
 * A Retry-After pauses the bucket: no take conforms before it ends, and the rate climbs
 * only from a step after it.
 *
 * Times are the consumers' clocks (epoch ms): consumers whose clocks disagree by `d` ms
 * may together send up to `rate·d/1000` messages more than the bound in one window.
 */
import type { BucketState, PaceLimit } from '#shared/domain/destinations.ts';
import { retry } from '#shared/retry.ts';

export type { BucketState };

/** A 429 within this long after the last halving (the same storm, seen by another consumer) halves nothing. */
export const THROTTLE_COOLDOWN_MS = 1_000;
/** The effective rate (messages per second) a 429 never lowers below. */
export const MIN_EFFECTIVE_RATE = 1;
/** The effective rate climbs back once per this long without a 429, from the later of the last 429 and the last rise. */
export const RATE_STEP_MS = 1_000;
/**
 * How much the effective rate climbs back per `RATE_STEP_MS`: a tenth of the configured
 * rate, at least one message per second, so the rate is back at the configured one within ten steps.
 */
export const rateStepOf = (configured: number) => Math.max(1, configured / 10);
/**
 * Reads and conditional writes of one take or throttle before it gives up. Every lost
 * write means another consumer's won. Without a backoff, k consumers that read the same
 * state at once (a campaign's start) are served one per round, and the last loses k − 1
 * writes: this many consumers at once all get through. With one (`PacerOptions.sleep`),
 * the losers spread out: 100 at once lose about ten writes in a row at the most (a
 * prod stage runs up to 50 deliver functions at once).
 */
export const PACE_MAX_TRIES = 20;
/**
 * Backoff after the n-th lost write in a row, when the pacer has a `sleep`: a random
 * wait below `min(PACE_BACKOFF_CAP_MS, PACE_BACKOFF_BASE_MS · 2^(n−1))` ("full jitter").
 */
export const PACE_BACKOFF_BASE_MS = 10;
export const PACE_BACKOFF_CAP_MS = 250;

/** Where the buckets' states live. */
export interface BucketStore {
  /** The bucket's state as stored now (strongly consistent), or undefined when it has none yet. */
  read(bucket: string): Promise<BucketState | undefined>;
  /**
   * Stores `next` if the stored version is still `expectedVersion` (undefined: no state
   * stored yet); false when it changed, as another consumer wrote first.
   */
  write(bucket: string, next: BucketState, expectedVersion: number | undefined): Promise<boolean>;
}

export interface PaceClock {
  /** Epoch ms. */
  now(): number;
}

/** A take's answer: send at `at` (epoch ms, the tokens are reserved), or take again at `retryAt`. */
export type PaceGrant = { at: number } | { retryAt: number };

export interface Pacer {
  /**
   * Takes the tokens of `n` messages from the bucket of `limit`. When they are there
   * within `maxWaitMs`, they are reserved and the answer says when to send (`at`, now or
   * later); otherwise nothing is taken and the answer says when they will be there
   * (`retryAt`). Throws after `PACE_MAX_TRIES` conditional writes lost in a row.
   */
  take(limit: PaceLimit, n: number, maxWaitMs: number): Promise<PaceGrant>;
  /**
   * The far side answered 429 (or sent a Retry-After): halves the effective rate, unless
   * it was halved less than `THROTTLE_COOLDOWN_MS` ago, holds back its climb for another
   * `RATE_STEP_MS`, and with `retryAfterMs` grants no take before `now + retryAfterMs`.
   * Answers the effective rate. Throws after `PACE_MAX_TRIES` lost conditional writes.
   */
  throttled(limit: PaceLimit, retryAfterMs?: number): Promise<number>;
}

export interface PacerOptions {
  store: BucketStore;
  clock: PaceClock;
  /** Told after every stored change of a bucket's effective rate (for a log line or a metric). */
  onRateChange?: (bucket: string, rate: number, configured: number) => void;
  /**
   * Waits between a lost write and the next read (see `PACE_BACKOFF_BASE_MS`); without
   * it the pacer reads again at once, and only `PACE_MAX_TRIES` consumers at once are sure
   * to get through.
   */
  sleep?: (ms: number) => Promise<void>;
}

type Fields = Omit<BucketState, 'version'>;

/**
 * The state at `now`, before the take or throttle: the stored one (a missing one is a
 * full bucket at the configured rate), reset to a changed configured rate, and with the
 * effective rate climbed back for every whole step since its last change.
 */
function current(stored: BucketState | undefined, limit: PaceLimit, now: number): Fields {
  const configured = limit.ratePerSecond;
  if (!stored) return { tat: now, rate: configured, configured };
  const { version: _version, ...state } = stored;
  if (state.configured !== configured) return { ...atRate(state, configured, now), configured };
  if (state.rate >= configured) return state;
  const since = Math.max(
    state.throttledAt ?? Number.NEGATIVE_INFINITY,
    state.raisedAt ?? Number.NEGATIVE_INFINITY,
  );
  // Below the configured rate with no halving on record: nothing to climb back from.
  if (!Number.isFinite(since)) return atRate(state, configured, now);
  const steps = Math.floor((now - since) / RATE_STEP_MS);
  if (steps < 1) return state;
  const rate = Math.min(configured, state.rate + steps * rateStepOf(configured));
  return { ...atRate(state, rate, now), raisedAt: since + steps * RATE_STEP_MS };
}

/**
 * The state at another effective rate, with the same tokens in the bucket: the time `tat`
 * is ahead of `now` (the tokens missing, or reserved ahead) scaled to the new rate. Left
 * as it was, a halved rate would double the tokens in a bucket that is not full.
 */
function atRate(state: Fields, rate: number, now: number): Fields {
  const tat = state.tat > now ? now + ((state.tat - now) * state.rate) / rate : state.tat;
  return { ...state, tat, rate };
}

function sameFields(a: Fields, b: BucketState): boolean {
  return (
    a.tat === b.tat &&
    a.rate === b.rate &&
    a.configured === b.configured &&
    a.throttledAt === b.throttledAt &&
    a.halvedAt === b.halvedAt &&
    a.raisedAt === b.raisedAt
  );
}

function checkLimit(limit: PaceLimit): void {
  if (!(limit.ratePerSecond > 0) || !Number.isFinite(limit.ratePerSecond) || !(limit.burst >= 1)) {
    throw new Error(
      `Invalid pace for bucket '${limit.bucket}': ratePerSecond must be a positive number and burst at least 1 (got ${limit.ratePerSecond} and ${limit.burst}).`,
    );
  }
}

/** A conditional write of a bucket that another consumer's write beat. */
class LostWrite extends Error {}

const readAgainAtOnce = async () => {};

/** A pacer over `store`: see the module comment for the algorithm and its bound. */
export function createPacer({ store, clock, onRateChange, sleep }: PacerOptions): Pacer {
  /**
   * Reads the bucket, asks `decide` for the next state, and writes it on the read's
   * version; a lost write starts over from a fresh read (after a backoff, with `sleep`),
   * at most `PACE_MAX_TRIES` times. `decide` answering no state writes nothing.
   */
  async function update<T>(
    limit: PaceLimit,
    what: string,
    decide: (state: Fields, now: number, stored: BucketState | undefined) => { next?: Fields; answer: T },
  ): Promise<T> {
    try {
      return await retry(
        async () => {
          const stored = await store.read(limit.bucket);
          const now = clock.now();
          const { next, answer } = decide(current(stored, limit, now), now, stored);
          if (!next) return answer;
          const version = (stored?.version ?? 0) + 1;
          if (!(await store.write(limit.bucket, { ...next, version }, stored?.version)))
            throw new LostWrite();
          const before = stored?.rate ?? limit.ratePerSecond;
          if (next.rate !== before) onRateChange?.(limit.bucket, next.rate, next.configured);
          return answer;
        },
        {
          maxAttempts: PACE_MAX_TRIES,
          baseDelayMs: PACE_BACKOFF_BASE_MS,
          maxDelayMs: PACE_BACKOFF_CAP_MS,
          retryable: (error) => error instanceof LostWrite,
          sleep: sleep ?? readAgainAtOnce,
        },
      );
    } catch (error) {
      if (!(error instanceof LostWrite)) throw error;
      throw new Error(
        `Pacing bucket '${limit.bucket}': ${what} lost ${PACE_MAX_TRIES} conditional writes in a row to other consumers; the bucket is busier than one take per chunk should make it.`,
      );
    }
  }

  return {
    async take(limit, n, maxWaitMs) {
      checkLimit(limit);
      if (!Number.isInteger(n) || n < 1)
        throw new Error(`A take needs a whole number of tokens, at least 1 (got ${n}).`);
      return update<PaceGrant>(limit, 'a take', (state, now) => {
        const base = Math.max(state.tat, now);
        // A take above the capacity conforms once the bucket is full, i.e. at `base`.
        const allowedAt = base - (Math.max(0, limit.burst - n) * 1000) / state.rate;
        if (allowedAt - now > maxWaitMs) return { answer: { retryAt: allowedAt } };
        return {
          next: { ...state, tat: base + (n * 1000) / state.rate },
          answer: { at: Math.max(now, allowedAt) },
        };
      });
    },

    async throttled(limit, retryAfterMs) {
      checkLimit(limit);
      return update<number>(limit, 'a throttle', (state, now, stored) => {
        const pause = retryAfterMs !== undefined && retryAfterMs > 0 ? retryAfterMs : 0;
        // No climb while the far side asked for a pause, nor for a step after it.
        let next: Fields = { ...state, throttledAt: Math.max(state.throttledAt ?? now, now + pause) };
        const cooled = state.halvedAt === undefined || now - state.halvedAt >= THROTTLE_COOLDOWN_MS;
        if (cooled && state.rate > MIN_EFFECTIVE_RATE) {
          next = { ...atRate(next, Math.max(MIN_EFFECTIVE_RATE, state.rate / 2), now), halvedAt: now };
        }
        if (pause > 0) {
          // Empty but for one token at `now + retryAfterMs`: no take of any size conforms before then.
          const paused = now + pause + ((limit.burst - 1) * 1000) / next.rate;
          if (paused > next.tat) next = { ...next, tat: paused };
        }
        if (stored && sameFields(next, stored)) return { answer: next.rate };
        return { next, answer: next.rate };
      });
    },
  };
}
