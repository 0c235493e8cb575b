import { describe, expect, it } from 'vitest';
import { backoffDelay, type RetryOptions, retry } from '#shared/retry.ts';

/** A retry on a fake clock: the waits are recorded, none is slept. */
function fake(options: Partial<RetryOptions> = {}) {
  const waits: number[] = [];
  const tries: number[] = [];
  const settings: RetryOptions = {
    maxAttempts: 4,
    baseDelayMs: 100,
    maxDelayMs: 1000,
    random: () => 0.5,
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...options,
  };
  /** A task that fails `failures` times, then answers 'done'. */
  const failing = (failures: number, error: () => unknown = () => new Error('no')) =>
    retry(async (attempt) => {
      tries.push(attempt);
      if (attempt <= failures) throw error();
      return 'done';
    }, settings);
  return { waits, tries, failing };
}

describe('backoffDelay', () => {
  it('doubles the ceiling per attempt up to the cap, scaled by the random draw', () => {
    const backoff = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, backoff, 1))).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffDelay(3, backoff, 0)).toBe(0);
    expect(backoffDelay(3, backoff, 0.25)).toBe(100);
    expect(backoffDelay(1, backoff, 0.999)).toBe(99);
  });
});

describe('retry', () => {
  it('answers what the first successful try answers, after the backoff between the tries', async () => {
    const { waits, tries, failing } = fake();
    await expect(failing(2)).resolves.toBe('done');
    expect(tries).toEqual([1, 2, 3]);
    expect(waits).toEqual([50, 100]);
  });

  it('makes maxAttempts tries at the most and throws the last failure', async () => {
    const { waits, tries, failing } = fake({ maxAttempts: 3 });
    let n = 0;
    await expect(failing(99, () => new Error(`failure ${++n}`))).rejects.toThrow('failure 3');
    expect(tries).toEqual([1, 2, 3]);
    expect(waits).toHaveLength(2);
  });

  it('makes one try when maxAttempts is 1 or less', async () => {
    for (const maxAttempts of [1, 0]) {
      const { waits, tries, failing } = fake({ maxAttempts });
      await expect(failing(1)).rejects.toThrow('no');
      expect(tries).toEqual([1]);
      expect(waits).toEqual([]);
    }
  });

  it('throws a failure that is not retryable at once', async () => {
    class Fatal extends Error {}
    const { waits, tries, failing } = fake({ retryable: (error) => !(error instanceof Fatal) });
    await expect(failing(5, () => new Fatal('fatal'))).rejects.toBeInstanceOf(Fatal);
    expect(tries).toEqual([1]);
    expect(waits).toEqual([]);
  });

  it('waits as long as a failure asks instead of the backoff, when it asks', async () => {
    const asked = Object.assign(new Error('later'), { afterMs: 1234 });
    let n = 0;
    const { waits, failing } = fake({
      delayOf: (error) => (error as { afterMs?: number }).afterMs,
    });
    await expect(failing(2, () => (++n === 1 ? asked : new Error('plain')))).resolves.toBe('done');
    expect(waits).toEqual([1234, 100]);
  });

  it('tells the tries apart by their number, for a retryable that depends on it', async () => {
    const asked: number[] = [];
    const { failing } = fake({
      retryable: (_error, attempt) => {
        asked.push(attempt);
        return attempt < 2;
      },
    });
    await expect(failing(5)).rejects.toThrow('no');
    expect(asked).toEqual([1, 2]);
  });
});
