/**
 * Load generator, in a worker thread so that its clients do not share the server's
 * event loop. Runs `concurrency` clients for `durationMs` (bounded also by
 * `maxRequests`) against loopback only, each repeating the request script, and records
 * every request's latency under its operation and every error under its HTTP status
 * (or `timeout`, `network`, `mismatch` for an answer that is not the one asked for).
 * The `upload` script instead runs one upload per campaign of `upload`, all at once.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { assertLoopback, fetchFailure } from './loopback.ts';
import { client as apiClient, type UploadOutcome, uploadOne } from './upload-client.ts';

export interface LoadPlan {
  baseUrl: string;
  headers: Record<string, string>;
  concurrency: number;
  durationMs: number;
  maxRequests: number;
  /**
   * `bare`: GET /; `campaigns`: create a campaign then read it back; `campaigns-list`:
   * create a campaign, read it back, then read the first page of the campaign list.
   */
  script: 'bare' | 'campaigns' | 'campaigns-list' | 'upload';
  templateId?: string;
  /** For `upload`: the campaigns to upload `csv` (of `rows` rows) to, one client each. */
  upload?: { campaignIds: string[]; csv: string; rows: number };
  /** A request unanswered after this long is abandoned and counted as a `timeout` error (default 30 s). */
  requestTimeoutMs?: number;
}

export interface LoadResult {
  /** Latencies in ms by operation (`bare`, `create`, `get`, `list`). */
  latencies: Record<string, number[]>;
  /** Error counts by operation, then by HTTP status or `timeout`, `network <code>`, `mismatch`. */
  errors: Record<string, Record<string, number>>;
  elapsedMs: number;
  /** For `upload`: each upload's outcome. */
  uploads?: UploadOutcome[];
}

const plan = workerData as LoadPlan;
assertLoopback(plan.baseUrl);
const timeoutMs = plan.requestTimeoutMs ?? 30_000;

const latencies: Record<string, number[]> = {};
const errors: Record<string, Record<string, number>> = {};
let sent = 0;
const started = performance.now();
const deadline = started + plan.durationMs;

function fail(operation: string, kind: string): undefined {
  errors[operation] ??= {};
  errors[operation][kind] = (errors[operation][kind] ?? 0) + 1;
  return undefined;
}

/** The JSON body of a 2xx answer, or undefined once the error is counted. */
async function timed(operation: string, input: string, init?: RequestInit): Promise<any> {
  sent += 1;
  const t0 = performance.now();
  let status: number | undefined;
  let body: string | undefined;
  let failure: string | undefined;
  try {
    const res = await fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    status = res.status;
    body = await res.text();
  } catch (error) {
    failure = fetchFailure(error).kind;
  }
  latencies[operation] ??= [];
  latencies[operation].push(performance.now() - t0);
  if (failure) return fail(operation, failure);
  if ((status as number) >= 400) return fail(operation, String(status));
  try {
    return body ? JSON.parse(body) : undefined;
  } catch {
    return fail(operation, 'mismatch');
  }
}

async function client(n: number): Promise<void> {
  while (performance.now() < deadline && sent < plan.maxRequests) {
    if (plan.script === 'bare') {
      await timed('bare', `${plan.baseUrl}/`);
      continue;
    }
    const created = await timed('create', `${plan.baseUrl}/api/campaigns`, {
      method: 'POST',
      headers: { ...plan.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `load ${n}-${sent}`, templateId: plan.templateId }),
    });
    const id = created?.data?.id;
    if (typeof id !== 'string') {
      if (created) fail('create', 'mismatch');
      continue;
    }
    const read = await timed('get', `${plan.baseUrl}/api/campaigns/${id}`, { headers: plan.headers });
    if (read && read.data?.id !== id) fail('get', 'mismatch');
    if (plan.script === 'campaigns-list') {
      const listed = await timed('list', `${plan.baseUrl}/api/campaigns`, { headers: plan.headers });
      if (listed && !Array.isArray(listed.data)) fail('list', 'mismatch');
    }
  }
}

async function uploads(): Promise<UploadOutcome[]> {
  const { campaignIds, csv, rows } = plan.upload ?? { campaignIds: [], csv: '', rows: 0 };
  const call = apiClient(plan.baseUrl, plan.headers as { appId: string; apiKey: string });
  const file = Buffer.from(csv);
  return Promise.all(campaignIds.map((id) => uploadOne(call, id, file, rows)));
}

const result: LoadResult = { latencies, errors, elapsedMs: 0 };
if (plan.script === 'upload') {
  result.uploads = await uploads();
} else {
  await Promise.all(Array.from({ length: plan.concurrency }, (_, i) => client(i)));
}
result.elapsedMs = performance.now() - started;
parentPort?.postMessage(result);
