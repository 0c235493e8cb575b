import { describe, expect, it } from 'vitest';
import { percentile, summarize } from '#bench/lib/stats.ts';

describe('benchmark statistics', () => {
  it('takes nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile([5], 99)).toBe(5);
  });

  it('summarizes throughput and errors', () => {
    expect(summarize([4, 1, 3, 2], 1, 2000)).toEqual({
      requests: 4,
      errors: 1,
      perSecond: 2,
      p50Ms: 2,
      p99Ms: 4,
      maxMs: 4,
    });
  });
});
