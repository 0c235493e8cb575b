/** Latency statistics for benchmarks. */

/** The `p`-th percentile (0-100) of `values`, nearest-rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export interface LatencySummary {
  requests: number;
  errors: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export function summarize(latenciesMs: readonly number[], errors: number, elapsedMs: number): LatencySummary {
  return {
    requests: latenciesMs.length,
    errors,
    perSecond: Math.round((latenciesMs.length / elapsedMs) * 1000),
    p50Ms: round(percentile(latenciesMs, 50)),
    p99Ms: round(percentile(latenciesMs, 99)),
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
