import { Worker } from 'node:worker_threads';
import type { LoadPlan } from './load-worker.ts';
import { type LatencySummary, summarize } from './stats.ts';

/** Runs a load plan in a worker thread and summarizes its latencies. */
export async function runLoad(plan: LoadPlan): Promise<LatencySummary> {
  const worker = new Worker(new URL('./load-worker.ts', import.meta.url), { workerData: plan });
  const result = await new Promise<{ latencies: number[]; errors: number; elapsedMs: number }>(
    (resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    },
  );
  await worker.terminate();
  return summarize(result.latencies, result.errors, result.elapsedMs);
}
