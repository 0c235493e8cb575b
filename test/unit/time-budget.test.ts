import { describe, expect, it } from 'vitest';
import { claimCutoffMs, MIN_DELIVERY_WINDOW_MS, OUTCOME_MARGIN_MS } from '#shared/delivery/time-budget.ts';

const defaults = { timeoutMs: 5_000, maxAttempts: 3, maxDelayMs: 2_000, maxRetryAfterMs: 5_000 };

describe('the claim cutoff', () => {
  it('is the longest webhook call with every retry, plus the outcome margin', () => {
    // 3 tries of 5 s, and 2 waits of at most 5 s (a longer Retry-After stops the tries).
    expect(claimCutoffMs(defaults, 90_000)).toBe(25_000 + OUTCOME_MARGIN_MS);
    expect(claimCutoffMs({ ...defaults, maxAttempts: 1 }, 90_000)).toBe(5_000 + OUTCOME_MARGIN_MS);
  });

  it('fails at cold start, naming the variables, when it leaves too little time to deliver', () => {
    const slow = { ...defaults, timeoutMs: 20_000 };
    // 3 × 20 s + 2 × 5 s = 70 s: with the margin, more than 90 s − 30 s.
    expect(() => claimCutoffMs(slow, 90_000)).toThrow(/70000 ms.*WEBHOOK_TIMEOUT_MS.*90000 ms/s);
    expect(() => claimCutoffMs(slow, 70_000 + OUTCOME_MARGIN_MS + MIN_DELIVERY_WINDOW_MS)).not.toThrow();
  });
});
