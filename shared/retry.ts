/**
 * The one retry of the code: a bounded number of tries with exponential backoff and full
 * jitter between them, as the AWS SDK's standard retry strategy waits. It serves the
 * failures the SDK does not retry itself: a cancelled transaction, the unprocessed items of
 * a batch call, the failed entries of an SQS or SNS batch, a webhook's transient answer, a
 * lost conditional write. The wait and the random draw are ports, so tests run it on a
 * fake clock.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Exponential backoff with full jitter. */
export interface Backoff {
  /** Ceiling of the wait after the first try; it doubles after each further try. */
  baseDelayMs: number;
  /** Largest ceiling. */
  maxDelayMs: number;
}

/**
 * The wait after try `attempt` (from 1): `random` (in [0, 1)) times
 * `min(maxDelayMs, baseDelayMs · 2^(attempt − 1))`, in whole milliseconds.
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: number): number {
  return Math.floor(random * Math.min(backoff.maxDelayMs, backoff.baseDelayMs * 2 ** (attempt - 1)));
}

export interface RetryOptions extends Backoff {
  /** Tries in all, the first included; at least one is made. */
  maxAttempts: number;
  /** Whether the failure of try `attempt` may pass on another try (every failure when absent). */
  retryable?: (error: unknown, attempt: number) => boolean;
  /** A wait the failure asks for itself (a `Retry-After`), instead of the backoff. */
  delayOf?: (error: unknown, attempt: number) => number | undefined;
  /** Replaceable in tests; Node's timer by default. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/**
 * Calls `run(attempt)` until it resolves and returns its value. A failure that is not
 * `retryable`, or that of the `maxAttempts`-th try, is thrown as it is; any other is
 * followed by the next try after `backoffDelay` (or the failure's own `delayOf`).
 */
export async function retry<T>(run: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { maxAttempts, retryable, delayOf, sleep: wait = sleep, random = Math.random } = options;
  for (let attempt = 1; attempt < maxAttempts; attempt += 1) {
    try {
      return await run(attempt);
    } catch (error) {
      if (retryable && !retryable(error, attempt)) throw error;
      await wait(delayOf?.(error, attempt) ?? backoffDelay(attempt, options, random()));
    }
  }
  return run(Math.max(1, maxAttempts));
}
