/**
 * Load generator, in a worker thread so that its clients do not share the server's
 * event loop. Runs `concurrency` clients for `durationMs` (bounded also by
 * `maxRequests`) against loopback only, each repeating the request script.
 */
import { parentPort, workerData } from 'node:worker_threads';

export interface LoadPlan {
  baseUrl: string;
  headers: Record<string, string>;
  concurrency: number;
  durationMs: number;
  maxRequests: number;
  /** `bare`: GET /; `campaigns`: create a campaign then read it back. */
  script: 'bare' | 'campaigns';
  templateId?: string;
}

const plan = workerData as LoadPlan;
if (!/^http:\/\/(127\.\d+\.\d+\.\d+|localhost)(:\d+)?$/.test(plan.baseUrl)) {
  throw new Error(`load tests only target loopback addresses, not ${plan.baseUrl}`);
}

const latencies: number[] = [];
let errors = 0;
let sent = 0;
const started = performance.now();
const deadline = started + plan.durationMs;

async function timed(input: string, init?: RequestInit): Promise<unknown> {
  const t0 = performance.now();
  try {
    const res = await fetch(input, init);
    const body = await res.text();
    if (res.status >= 400) errors += 1;
    latencies.push(performance.now() - t0);
    return body ? JSON.parse(body) : undefined;
  } catch {
    errors += 1;
    latencies.push(performance.now() - t0);
    return undefined;
  }
}

async function client(n: number): Promise<void> {
  while (performance.now() < deadline && sent < plan.maxRequests) {
    sent += 1;
    if (plan.script === 'bare') {
      await timed(`${plan.baseUrl}/`);
      continue;
    }
    const created = (await timed(`${plan.baseUrl}/api/campaigns`, {
      method: 'POST',
      headers: { ...plan.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `load ${n}-${sent}`, templateId: plan.templateId }),
    })) as { data?: { id: string } } | undefined;
    const id = created?.data?.id;
    if (id) {
      sent += 1;
      await timed(`${plan.baseUrl}/api/campaigns/${id}`, { headers: plan.headers });
    }
  }
}

await Promise.all(Array.from({ length: plan.concurrency }, (_, i) => client(i)));
parentPort?.postMessage({ latencies, errors, elapsedMs: performance.now() - started });
