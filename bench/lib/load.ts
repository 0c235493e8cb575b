import { Worker } from 'node:worker_threads';
import type { LoadPlan, LoadResult } from './load-worker.ts';
import { type LatencySummary, summarize } from './stats.ts';
import type { UploadOutcome } from './upload-client.ts';

export interface LoadSummary extends LatencySummary {
  /** The same figures per operation of the script (`create`, `get`, `list`, `bare`). */
  operations: Record<string, LatencySummary>;
  /** Errors by HTTP status, or `timeout`, `network`, `mismatch` (an answer that is not the one asked for). */
  errorsByStatus: Record<string, number>;
}

const sum = (counts: Record<string, number> = {}) => Object.values(counts).reduce((a, b) => a + b, 0);

async function inWorker(plan: LoadPlan): Promise<LoadResult> {
  const worker = new Worker(new URL('./load-worker.ts', import.meta.url), { workerData: plan });
  const result = await new Promise<LoadResult>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  return result;
}

/**
 * Uploads `csv` to every campaign at once from the worker thread (a client sharing the
 * server's event loop would measure that loop's stalls, and race its keep-alive timers),
 * and returns each upload's outcome and the time until the last one settled.
 */
export async function runUploads(
  plan: Pick<LoadPlan, 'baseUrl' | 'headers'> & { upload: NonNullable<LoadPlan['upload']> },
): Promise<{ outcomes: UploadOutcome[]; elapsedMs: number }> {
  const result = await inWorker({
    ...plan,
    script: 'upload',
    concurrency: plan.upload.campaignIds.length,
    durationMs: 0,
    maxRequests: 0,
  });
  return { outcomes: result.uploads ?? [], elapsedMs: result.elapsedMs };
}

/** Runs a load plan in a worker thread and summarizes its latencies, overall and per operation. */
export async function runLoad(plan: LoadPlan): Promise<LoadSummary> {
  const result = await inWorker(plan);
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
