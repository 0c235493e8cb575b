/**
 * `npm run bench:load`: a load test of the local runtime, bounded in count and time, on
 * loopback only (outside the test suite).
 *
 * 1. `--clients` (50) closed-loop clients for `--seconds` (30), after a warm-up of up to
 *    3 s: each creates a campaign, reads it back and reads the first page of the list.
 * 2. `--uploads` (20) CSV uploads of `--rows` (10,000) rows at once, one per campaign,
 *    each sent the way API.md says a file of its size goes (direct multipart up to 4 MiB,
 *    else presigned), waited for, and checked exact: the upload completed with every row
 *    uploaded and none rejected or duplicate, and the campaign's `recipientCount` is `rows`.
 *
 * Prints a table (or one JSON object with `--json`) and exits 1 on any error or any
 * inexact upload. Starts its own runtime with the embedded emulators, or with `--url`
 * targets a running one on this machine (credentials from `LOCAL_APP_ID` /
 * `LOCAL_API_KEY`, as `npm start` seeds them); any other host is refused.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type LocalRuntime, startLocalRuntime } from '#infra/local/runtime.ts';
import { audienceCsv, audienceSchema } from '#test/support/audience.ts';
import { runLoad } from './lib/load.ts';
import { assertLoopback, fetchFailure, isLoopbackUrl } from './lib/loopback.ts';
import { type LatencySummary, summarize } from './lib/stats.ts';
import { formatTable } from './lib/table.ts';

export interface LoadOptions {
  clients: number;
  seconds: number;
  uploads: number;
  rows: number;
  /** A running runtime on loopback; by default the bench starts its own. */
  url?: string;
  appId?: string;
  apiKey?: string;
}

export interface LoadReport {
  target: string;
  load: {
    clients: number;
    seconds: number;
    warmupSeconds: number;
    /** Every operation together. */
    all: LatencySummary;
    /** `create`, `get`, `list`. */
    operations: Record<string, LatencySummary>;
    errorsByStatus: Record<string, number>;
    /** Errors during the warm-up (they count as errors too). */
    warmupErrorsByStatus: Record<string, number>;
  };
  uploads: {
    uploads: number;
    rows: number;
    path: 'direct' | 'presigned';
    bytesEach: number;
    seconds: number;
    rowsPerSecond: number;
    /** Time from the upload request to the settled upload, per upload. */
    uploadP50Ms: number;
    uploadP99Ms: number;
    uploadMaxMs: number;
    exact: number;
    /** Uploads that settled but are not exact, or never settled, with what was found. */
    inexact: Array<{ campaignId: string; uploadId?: string; found: string }>;
    errorsByStatus: Record<string, number>;
  };
  errors: number;
  ok: boolean;
}

/** API.md's direct-upload limit (`DIRECT_UPLOAD_MAX_BYTES`' default); larger files go presigned. */
const DIRECT_UPLOAD_MAX_BYTES = 4 * 1024 * 1024;
/** The API's own bound on a CSV. */
const MAX_ROWS = 100_000;
/** A request unanswered this long is an error (a direct upload waits up to 20 s for its import). */
const REQUEST_TIMEOUT_MS = 60_000;
/** An upload not settled this long after it was sent is an error (the importer's Lambda timeout). */
const SETTLE_TIMEOUT_MS = 900_000;

class RequestError extends Error {
  override name = 'RequestError';
  readonly kind: string;
  constructor(kind: string, message: string) {
    super(message);
    this.kind = kind;
  }
}

interface Answer {
  status: number;
  body: any;
}

function client(baseUrl: string, credentials: { appId: string; apiKey: string }) {
  return async function call(
    method: string,
    path: string,
    init: { json?: unknown; form?: FormData; expect: number[] },
  ): Promise<Answer> {
    const headers: Record<string, string> = { ...credentials };
    let body: RequestInit['body'] = init.form;
    if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${baseUrl}${path}`, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      text = await res.text();
    } catch (error) {
      const failure = fetchFailure(error);
      throw new RequestError(failure.kind, `${method} ${path}: ${failure.message}`);
    }
    if (!init.expect.includes(res.status)) {
      throw new RequestError(String(res.status), `${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    }
    try {
      return { status: res.status, body: JSON.parse(text) };
    } catch {
      throw new RequestError('mismatch', `${method} ${path}: not JSON: ${text.slice(0, 300)}`);
    }
  };
}

type Call = ReturnType<typeof client>;

/** An approved template with the audience schema, for both phases. */
async function approvedTemplate(call: Call): Promise<string> {
  const template = await call('POST', '/api/templates', {
    json: {
      name: 'load test',
      body: 'Hello {{name}}, {{discount}}% off',
      variableSchema: audienceSchema,
    },
    expect: [201],
  });
  const id = template.body.data.id as string;
  await call('PUT', `/api/templates/${id}`, { json: { status: 'approved' }, expect: [200] });
  return id;
}

async function loadPhase(options: LoadOptions, baseUrl: string, templateId: string, credentials: object) {
  const durationMs = options.seconds * 1000;
  const plan = {
    baseUrl,
    headers: credentials as Record<string, string>,
    concurrency: options.clients,
    maxRequests: Math.max(1000, options.clients * options.seconds * 2000),
    script: 'campaigns-list' as const,
    templateId,
  };
  // DynamoDB Local's JIT makes its first seconds several times slower: warm it up first.
  const warmupMs = Math.min(3000, durationMs);
  const warmup = await runLoad({ ...plan, durationMs: warmupMs });
  const run = await runLoad({ ...plan, durationMs });
  const { operations, errorsByStatus, ...all } = run;
  return {
    clients: options.clients,
    seconds: options.seconds,
    warmupSeconds: warmupMs / 1000,
    all,
    operations,
    errorsByStatus,
    warmupErrorsByStatus: warmup.errorsByStatus,
  };
}

interface UploadOutcome {
  campaignId: string;
  uploadId?: string;
  ms: number;
  error?: RequestError;
  /** Set when the upload settled but is not exact. */
  inexact?: string;
}

async function settle(call: Call, campaignId: string, uploadId: string, started: number): Promise<any> {
  for (;;) {
    const { body } = await call('GET', `/api/campaigns/${campaignId}/uploads/${uploadId}`, { expect: [200] });
    if (body.data.status === 'completed' || body.data.status === 'failed') return body.data;
    if (performance.now() - started > SETTLE_TIMEOUT_MS) {
      throw new RequestError(
        'not settled',
        `upload ${uploadId} still ${body.data.status} after ${SETTLE_TIMEOUT_MS} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function uploadOne(
  call: Call,
  campaignId: string,
  csv: Buffer,
  rows: number,
  path: 'direct' | 'presigned',
): Promise<UploadOutcome> {
  const started = performance.now();
  let uploadId: string | undefined;
  try {
    let answeredTotal: number | undefined;
    if (path === 'direct') {
      const form = new FormData();
      form.set('campaignId', campaignId);
      form.set('file', new Blob([csv], { type: 'text/csv' }), 'audience.csv');
      const res = await call('POST', '/api/campaigns/upload', { form, expect: [200, 202] });
      uploadId = res.body.data.uploadId as string;
      if (res.status === 200) answeredTotal = res.body.data.total as number;
    } else {
      const res = await call('POST', `/api/campaigns/${campaignId}/upload-url`, {
        json: { contentLength: csv.length },
        expect: [201],
      });
      uploadId = res.body.data.uploadId as string;
      const url = res.body.data.url as string;
      assertLoopback(url);
      const put = await fetch(url, {
        method: 'PUT',
        headers: res.body.data.headers,
        body: csv,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      }).catch((error: Error) => {
        const failure = fetchFailure(error);
        throw new RequestError(failure.kind, `PUT upload: ${failure.message}`);
      });
      await put.arrayBuffer();
      if (put.status !== 200) throw new RequestError(String(put.status), `PUT upload: ${put.status}`);
    }
    const upload = await settle(call, campaignId, uploadId, started);
    const ms = performance.now() - started;
    if (upload.status === 'failed') {
      throw new RequestError(
        `upload failed (${upload.error?.code})`,
        `upload ${uploadId} failed: ${upload.error?.message}`,
      );
    }
    const campaign = await call('GET', `/api/campaigns/${campaignId}`, { expect: [200] });
    const found = {
      rowsRead: upload.rowsRead,
      uploaded: upload.uploaded,
      rejected: upload.rejected,
      duplicates: upload.duplicates,
      recipientCount: campaign.body.data.recipientCount,
      ...(answeredTotal === undefined ? {} : { answeredTotal }),
    };
    const exact =
      found.rowsRead === rows &&
      found.uploaded === rows &&
      found.rejected === 0 &&
      found.duplicates === 0 &&
      found.recipientCount === rows &&
      (answeredTotal === undefined || answeredTotal === rows);
    return { campaignId, uploadId, ms, ...(exact ? {} : { inexact: JSON.stringify(found) }) };
  } catch (error) {
    const failure =
      error instanceof RequestError ? error : new RequestError('bench', `${(error as Error).stack}`);
    return { campaignId, uploadId, ms: performance.now() - started, error: failure };
  }
}

async function uploadPhase(options: LoadOptions, call: Call, templateId: string) {
  const csv = Buffer.from(audienceCsv(options.rows));
  const path: 'direct' | 'presigned' = csv.length <= DIRECT_UPLOAD_MAX_BYTES ? 'direct' : 'presigned';
  const campaignIds: string[] = [];
  for (let i = 0; i < options.uploads; i += 1) {
    const created = await call('POST', '/api/campaigns', {
      json: { name: `load upload ${i + 1}`, templateId },
      expect: [201],
    });
    campaignIds.push(created.body.data.id as string);
  }
  const started = performance.now();
  const outcomes = await Promise.all(campaignIds.map((id) => uploadOne(call, id, csv, options.rows, path)));
  const seconds = (performance.now() - started) / 1000;
  const errorsByStatus: Record<string, number> = {};
  for (const o of outcomes) {
    if (o.error) errorsByStatus[o.error.kind] = (errorsByStatus[o.error.kind] ?? 0) + 1;
  }
  const times = summarize(
    outcomes.map((o) => o.ms),
    0,
    seconds * 1000,
  );
  const exact = outcomes.filter((o) => !o.error && !o.inexact).length;
  return {
    uploads: options.uploads,
    rows: options.rows,
    path,
    bytesEach: csv.length,
    seconds: Math.round(seconds * 100) / 100,
    rowsPerSecond: seconds > 0 ? Math.round((exact * options.rows) / seconds) : 0,
    uploadP50Ms: times.p50Ms,
    uploadP99Ms: times.p99Ms,
    uploadMaxMs: times.maxMs,
    exact,
    inexact: outcomes
      .filter((o) => o.error || o.inexact)
      .map((o) => ({
        campaignId: o.campaignId,
        ...(o.uploadId ? { uploadId: o.uploadId } : {}),
        found: o.inexact ?? (o.error as RequestError).message,
      })),
    errorsByStatus,
  };
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/** Runs both phases and reports them; never throws for errors of the system under load. */
export async function benchLoad(options: LoadOptions): Promise<LoadReport> {
  let runtime: LocalRuntime | undefined;
  let baseUrl: string;
  let credentials: { appId: string; apiKey: string };
  if (options.url) {
    assertLoopback(options.url);
    baseUrl = new URL(options.url).origin;
    credentials = {
      appId: options.appId ?? process.env.LOCAL_APP_ID ?? 'local-app',
      apiKey: options.apiKey ?? process.env.LOCAL_API_KEY ?? 'local-api-key',
    };
  } else {
    runtime = await startLocalRuntime({ port: 0 });
    baseUrl = runtime.url;
    credentials = { appId: runtime.appId, apiKey: runtime.apiKey };
  }
  try {
    const call = client(baseUrl, credentials);
    const templateId = await approvedTemplate(call);
    const load =
      options.seconds > 0 && options.clients > 0
        ? await loadPhase(options, baseUrl, templateId, credentials)
        : undefined;
    const uploads = options.uploads > 0 ? await uploadPhase(options, call, templateId) : undefined;
    const emptyLoad = summarize([], 0, 1);
    const report: LoadReport = {
      target: options.url ? baseUrl : `embedded runtime at ${baseUrl}`,
      load: load ?? {
        clients: 0,
        seconds: 0,
        warmupSeconds: 0,
        all: emptyLoad,
        operations: {},
        errorsByStatus: {},
        warmupErrorsByStatus: {},
      },
      uploads: uploads ?? {
        uploads: 0,
        rows: options.rows,
        path: 'direct',
        bytesEach: 0,
        seconds: 0,
        rowsPerSecond: 0,
        uploadP50Ms: Number.NaN,
        uploadP99Ms: Number.NaN,
        uploadMaxMs: Number.NaN,
        exact: 0,
        inexact: [],
        errorsByStatus: {},
      },
      errors: 0,
      ok: false,
    };
    report.errors =
      total(report.load.errorsByStatus) +
      total(report.load.warmupErrorsByStatus) +
      total(report.uploads.errorsByStatus);
    report.ok = report.errors === 0 && report.uploads.exact === report.uploads.uploads;
    return report;
  } finally {
    await runtime?.stop();
  }
}

const n = (x: number) => x.toLocaleString('en-US');
const ms = (x: number) => (Number.isFinite(x) ? `${n(Math.round(x))} ms` : '-');
const counts = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([k, v]) => `${k}: ${n(v)}`)
    .join(', ') || '0';

/** The report as the table `npm run bench` prints. */
export function formatLoadReport(report: LoadReport): string {
  const { load, uploads } = report;
  const names: Record<string, string> = {
    create: 'create campaign (POST /api/campaigns)',
    get: 'read campaign (GET /api/campaigns/{id})',
    list: 'list campaigns (GET /api/campaigns)',
  };
  const rows: string[][] = [];
  for (const [op, s] of Object.entries(load.operations)) {
    rows.push([
      names[op] ?? op,
      `${n(s.requests)} req, ${n(s.perSecond)}/s`,
      ms(s.p50Ms),
      ms(s.p99Ms),
      ms(s.maxMs),
      n(s.errors),
    ]);
  }
  if (load.clients > 0) {
    rows.push([
      `all, ${load.clients} clients, ${load.seconds} s (after ${load.warmupSeconds} s warm-up)`,
      `${n(load.all.requests)} req, ${n(load.all.perSecond)}/s`,
      ms(load.all.p50Ms),
      ms(load.all.p99Ms),
      ms(load.all.maxMs),
      counts({ ...load.errorsByStatus, ...prefixed('warm-up ', load.warmupErrorsByStatus) }),
    ]);
  }
  if (uploads.uploads > 0) {
    rows.push([
      `${uploads.uploads} uploads at once of ${n(uploads.rows)} rows (${uploads.path}, ${n(uploads.bytesEach)} B), per upload`,
      `${n(uploads.rowsPerSecond)} rows/s in ${uploads.seconds} s; ${uploads.exact} of ${uploads.uploads} exact`,
      ms(uploads.uploadP50Ms),
      ms(uploads.uploadP99Ms),
      ms(uploads.uploadMaxMs),
      counts(uploads.errorsByStatus),
    ]);
  }
  const lines = [formatTable(['what', 'throughput', 'p50', 'p99', 'max', 'errors'], rows)];
  for (const bad of uploads.inexact) {
    lines.push(`not exact: campaign ${bad.campaignId} upload ${bad.uploadId ?? '-'}: ${bad.found}`);
  }
  lines.push(
    report.ok
      ? `OK: no errors, every upload exact (${report.target})`
      : `FAILED: ${report.errors} errors, ${uploads.uploads - uploads.exact} uploads not exact (${report.target})`,
  );
  return lines.join('\n');
}

function prefixed(prefix: string, c: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(c).map(([k, v]) => [`${prefix}${k}`, v]));
}

/** Parses the command line; throws with a message naming the flag on a bad value. */
export function parseLoadArgs(args: string[]): { options: LoadOptions; json: boolean } {
  const { values } = parseArgs({
    args,
    options: {
      clients: { type: 'string', default: '50' },
      seconds: { type: 'string', default: '30' },
      uploads: { type: 'string', default: '20' },
      rows: { type: 'string', default: '10000' },
      url: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const int = (flag: string, value: string, min: number, max: number) => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
      throw new Error(`--${flag} must be a whole number from ${min} to ${max}, not '${value}'`);
    }
    return parsed;
  };
  if (values.url !== undefined && !isLoopbackUrl(values.url)) {
    throw new Error(
      `--url must be a loopback address (http://127.0.0.1, localhost or [::1]); load tests never leave this machine, and ${values.url} is not one`,
    );
  }
  return {
    options: {
      clients: int('clients', values.clients, 1, 1000),
      seconds: int('seconds', values.seconds, 0, 600),
      uploads: int('uploads', values.uploads, 0, 200),
      rows: int('rows', values.rows, 1, MAX_ROWS),
      ...(values.url ? { url: values.url } : {}),
    },
    json: values.json,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let parsed: ReturnType<typeof parseLoadArgs>;
  try {
    parsed = parseLoadArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`bench:load: ${(error as Error).message}`);
    process.exit(2);
  }
  const report = await benchLoad(parsed.options);
  console.log(parsed.json ? JSON.stringify(report) : formatLoadReport(report));
  process.exit(report.ok ? 0 : 1);
}
