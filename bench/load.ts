/**
 * `npm run bench:load`: a load test of the local runtime, bounded in count and time, on
 * loopback only (outside the test suite).
 *
 * 1. `--clients` (50) closed-loop clients for `--seconds` (30), after a warm-up of up to
 *    3 s: each creates a campaign, reads it back and reads the first page of the list.
 * 2. `--uploads` (20) CSV uploads of `--rows` (10,000) rows at once, one per campaign,
 *    each a direct multipart upload (docs/api.md's path for files up to 4 MiB; 100,000 rows are
 *    2.8 MB), waited for, and checked exact: the upload completed with every row uploaded
 *    and none rejected or duplicate, and the campaign's `recipientCount` is `rows`.
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
import { runLoad, runUploads } from './lib/load.ts';
import { assertLoopback, isLoopbackUrl } from './lib/loopback.ts';
import { type LatencySummary, summarize } from './lib/stats.ts';
import { formatTable } from './lib/table.ts';
import { type Call, client, DIRECT_UPLOAD_MAX_BYTES } from './lib/upload-client.ts';

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
    path: 'direct';
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

/** The API's own bound on a CSV. */
const MAX_ROWS = 100_000;

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

async function uploadPhase(
  options: LoadOptions,
  call: Call,
  templateId: string,
  baseUrl: string,
  credentials: Record<string, string>,
) {
  const csv = audienceCsv(options.rows);
  const bytes = Buffer.byteLength(csv);
  if (bytes > DIRECT_UPLOAD_MAX_BYTES) throw new Error(`a ${bytes}-byte CSV is over the direct-upload limit`);
  const campaignIds: string[] = [];
  for (let i = 0; i < options.uploads; i += 1) {
    const created = await call('POST', '/api/campaigns', {
      json: { name: `load upload ${i + 1}`, templateId },
      expect: [201],
    });
    campaignIds.push(created.body.data.id as string);
  }
  const { outcomes, elapsedMs } = await runUploads({
    baseUrl,
    headers: credentials,
    upload: { campaignIds, csv, rows: options.rows },
  });
  const seconds = elapsedMs / 1000;
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
    path: 'direct' as const,
    bytesEach: bytes,
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
        found: o.inexact ?? o.error?.message ?? '',
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
    const uploads =
      options.uploads > 0 ? await uploadPhase(options, call, templateId, baseUrl, credentials) : undefined;
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
