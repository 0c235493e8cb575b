/** Latency statistics for benchmarks. */

/** The `p`-th percentile (0-100) of `values`, nearest-rank. */
export function percentile(values: readonly number[], p: number): number {
  return percentileOfSorted(
    [...values].sort((a, b) => a - b),
    p,
  );
}

function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export interface LatencySummary {
  requests: number;
  errors: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function summarize(latenciesMs: readonly number[], errors: number, elapsedMs: number): LatencySummary {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    requests: sorted.length,
    errors,
    perSecond: Math.round((sorted.length / elapsedMs) * 1000),
    p50Ms: round(percentileOfSorted(sorted, 50)),
    p99Ms: round(percentileOfSorted(sorted, 99)),
    maxMs: round(sorted.at(-1) ?? Number.NaN),
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
