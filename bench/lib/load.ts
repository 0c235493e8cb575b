import { Worker } from 'node:worker_threads';
import type { LoadPlan, LoadResult } from './load-worker.ts';
import { type LatencySummary, summarize } from './stats.ts';

export interface LoadSummary extends LatencySummary {
  /** The same figures per operation of the script (`create`, `get`, `list`, `bare`). */
  operations: Record<string, LatencySummary>;
  /** Errors by HTTP status, or `timeout`, `network`, `mismatch` (an answer that is not the one asked for). */
  errorsByStatus: Record<string, number>;
}

const sum = (counts: Record<string, number> = {}) => Object.values(counts).reduce((a, b) => a + b, 0);

/** Runs a load plan in a worker thread and summarizes its latencies, overall and per operation. */
export async function runLoad(plan: LoadPlan): Promise<LoadSummary> {
  const worker = new Worker(new URL('./load-worker.ts', import.meta.url), { workerData: plan });
  const result = await new Promise<LoadResult>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  const errorsByStatus: Record<string, number> = {};
  for (const counts of Object.values(result.errors)) {
    for (const [kind, n] of Object.entries(counts)) errorsByStatus[kind] = (errorsByStatus[kind] ?? 0) + n;
  }
  const operations = Object.fromEntries(
    Object.entries(result.latencies).map(([name, latencies]) => [
      name,
      summarize(latencies, sum(result.errors[name]), result.elapsedMs),
    ]),
  );
  return {
    ...summarize(Object.values(result.latencies).flat(), sum(errorsByStatus), result.elapsedMs),
    operations,
    errorsByStatus,
  };
}
