#!/usr/bin/env node
/**
 * `npm run demo`: the whole flow against a running API (`npm start`, or `--endpoint`):
 * a generated CSV of `--rows` users (a few deliberately bad rows among them), a template
 * created and approved, a campaign, the upload (presigned above 1 MiB, with progress bars),
 * the send, delivery followed to the end (its ETA and rate on the line), and a summary
 * table. `--json` prints the summary as JSON on stdout and draws no bars.
 */
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { isFinalCampaignStatus } from '#shared/domain/campaign-status.ts';
import { ApiClient, ApiError, type CampaignView, type TemplateView } from './api.ts';
import { LOCAL_DEFAULTS } from './campaigns.ts';
import { etaAndRate, formatBytes, formatCount, ProgressBar } from './progress.ts';
import { uploadFile } from './upload.ts';

const usage = `usage: npm run demo -- [--rows <n>] [--endpoint <url>] [--app-id <id>] [--api-key <key>] [--json] [--out <file.csv>]

Runs the whole flow against a running API (start it first with npm start):
generates a CSV of --rows users (default 100,000; 6 of them deliberately bad so rejections show),
creates and approves a template, creates a campaign, uploads the file (presigned PUT to S3 above
1 MiB, direct below), sends it, waits for delivery to finish and prints a summary table.

  --rows <n>          data rows in the file, bad ones included (12 to 100,000)
  --out <file.csv>    where to write the CSV (default: the system temp directory)
  --timeout <s>       give up waiting for delivery after this many seconds (default 1800)
  --endpoint, --app-id, --api-key   as for campaigns (env CAMPAIGNS_ENDPOINT, CAMPAIGNS_APP_ID, CAMPAIGNS_API_KEY)
  --json              print the summary as JSON on stdout, no progress bars`;

export const DEMO_SCHEMA = {
  first_name: { type: 'string', default: 'there', maxLength: 40 },
  plan: { type: 'string', required: true, maxLength: 20 },
  credits: { type: 'number', default: 0 },
  vip: { type: 'boolean' },
} as const;

/** The deliberately bad rows, one of each kind of rejection. */
const BAD_ROWS = [
  'user@bad!,Mallory,gold,10,false', // user_id with characters outside A-Z a-z 0-9 _ @ . : -
  ',Nobody,gold,10,false', // empty user_id
  'bad-credits,Carol,gold,lots,false', // credits is not a number
  'bad-vip,Dave,silver,5,maybe', // vip is not a boolean
  'bad-fields,Eve,silver,5,true,extra', // one field too many
  'bad-plan,Frank,,5,true', // required plan is empty
];
export const DEMO_BAD_ROWS = BAD_ROWS.length;

const PLANS = ['free', 'silver', 'gold'];
const NAMES = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Radia', 'Linus'];

/** The CSV text: `rows` data rows, `DEMO_BAD_ROWS` of them bad, spread through the file. */
export function demoCsv(rows: number): string {
  const bad = new Map<number, string>();
  BAD_ROWS.forEach((line, k) => {
    bad.set(Math.floor(((k + 0.5) * rows) / BAD_ROWS.length), line);
  });
  const lines = ['user_id,first_name,plan,credits,vip'];
  let user = 0;
  for (let i = 0; i < rows; i++) {
    const line = bad.get(i);
    if (line !== undefined) {
      lines.push(line);
      continue;
    }
    user++;
    lines.push(
      `user${String(user).padStart(6, '0')},${NAMES[user % NAMES.length]},${PLANS[user % PLANS.length]},${user % 100},${user % 10 === 0}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export interface DemoSummary {
  endpoint: string;
  file: string;
  bytes: number;
  rows: number;
  badRows: number;
  templateId: string;
  campaignId: string;
  uploadId: string;
  uploadPath: 'direct' | 'presigned';
  imported: number;
  rejected: number;
  duplicates: number;
  rejectionsReport?: string;
  uploadSeconds: number;
  importSeconds: number;
  importRowsPerSecond: number;
  /** From the send accepted to no recipient left `pending` (all on the queue). */
  dispatchSeconds: number;
  /** From the send accepted to the campaign's final status. */
  deliverySeconds: number;
  deliveriesPerSecond: number;
  /** From the upload request to the campaign's final status: the whole flow as a user waits for it. */
  uploadToFinalSeconds: number;
  status: string;
  counts: CampaignView['counts'];
}

/** The delivery line's note: while sending, the ETA and the measured rate first, then the counts. */
export function deliveryNote(campaign: Pick<CampaignView, 'counts' | 'progress'>, now: number): string {
  const { pending, queued, sent, failed } = campaign.counts;
  const counts = `pending ${pending}, queued ${queued}, sent ${sent}, failed ${failed}`;
  return campaign.progress ? `${etaAndRate(campaign.progress, now)}; ${counts}` : counts;
}

const seconds = (ms: number) => Math.round(ms / 10) / 100;

export async function runDemo(options: {
  client: ApiClient;
  rows: number;
  out?: string;
  progress: boolean;
  timeoutSeconds?: number;
  log?: (line: string) => void;
}): Promise<DemoSummary> {
  const { client, rows } = options;
  const log = options.log ?? (() => undefined);
  const stamp = Date.now();
  const file = options.out ?? join(tmpdir(), `campaigns-demo-${rows}-${stamp}.csv`);
  const csv = demoCsv(rows);
  await writeFile(file, csv);
  log(
    `1. wrote ${file}: ${formatCount(rows)} rows (${DEMO_BAD_ROWS} bad), ${formatBytes(Buffer.byteLength(csv))}`,
  );

  const template = await client.data<TemplateView>('POST', '/api/templates', {
    name: `demo ${new Date(stamp).toISOString()}`,
    title: 'Hello {{first_name}}',
    body: 'Hi {{first_name}}, your {{plan}} plan has {{credits}} credits (vip: {{vip}}).',
    variableSchema: DEMO_SCHEMA,
  });
  await client.data('PUT', `/api/templates/${template.id}`, { status: 'approved' });
  log(`2. template ${template.id} created and approved`);
  const campaign = await client.data<CampaignView>('POST', '/api/campaigns', {
    name: `demo ${formatCount(rows)} rows`,
    templateId: template.id,
  });
  log(`3. campaign ${campaign.id} created`);

  log('4. uploading');
  const uploadStarted = performance.now();
  const upload = await uploadFile(client, file, {
    campaignId: campaign.id,
    progress: options.progress,
    directMaxBytes: 1024 * 1024,
    reportPath: join(tmpdir(), `campaigns-demo-rejections-${stamp}.csv`),
  });
  if (upload.status !== 'completed') {
    throw new ApiError(0, upload.error?.code ?? 'ERR_IMPORT', `The import failed: ${upload.error?.message}`);
  }
  log(
    `   imported ${formatCount(upload.imported)}, rejected ${formatCount(upload.rejected)}${
      upload.rejectionsReport ? ` (report: ${upload.rejectionsReport})` : ''
    }`,
  );

  log('5. sending');
  const sendStarted = performance.now();
  await client.data('POST', `/api/campaigns/${campaign.id}/send`, {});
  const bar = new ProgressBar('deliver', upload.imported, { enabled: options.progress, unit: 'rows' });
  let dispatchMs: number | undefined;
  let current: CampaignView;
  const deadline = Date.now() + (options.timeoutSeconds ?? 1800) * 1000;
  for (;;) {
    current = await client.data<CampaignView>('GET', `/api/campaigns/${campaign.id}`);
    const { pending, sent, failed, skipped } = current.counts;
    if (dispatchMs === undefined && current.status !== 'sending' && current.status !== 'scheduled') {
      dispatchMs = performance.now() - sendStarted;
    }
    if (dispatchMs === undefined && pending === 0) dispatchMs = performance.now() - sendStarted;
    const done = sent + failed + skipped;
    if (isFinalCampaignStatus(current.status)) {
      bar.finish(current.status, done);
      break;
    }
    bar.update(done, { note: deliveryNote(current, Date.now()) });
    if (Date.now() > deadline) {
      bar.finish('timed out');
      throw new ApiError(
        0,
        'ERR_TIMEOUT',
        `Campaign ${campaign.id} is still ${current.status} after ${options.timeoutSeconds ?? 1800} s; follow it with campaigns campaign get ${campaign.id}.`,
      );
    }
    await sleep(200);
  }
  const finalAt = performance.now();
  const deliveryMs = finalAt - sendStarted;
  const delivered = current.counts.sent + current.counts.failed;

  return {
    endpoint: client.connection.endpoint,
    file,
    bytes: upload.bytes,
    rows,
    badRows: DEMO_BAD_ROWS,
    templateId: template.id,
    campaignId: campaign.id,
    uploadId: upload.uploadId,
    uploadPath: upload.path,
    imported: upload.imported,
    rejected: upload.rejected,
    duplicates: upload.duplicates,
    ...(upload.rejectionsReport ? { rejectionsReport: upload.rejectionsReport } : {}),
    uploadSeconds: seconds(upload.uploadMs),
    importSeconds: seconds(upload.importMs),
    importRowsPerSecond: Math.round(upload.rowsRead / (upload.importMs / 1000)),
    dispatchSeconds: seconds(dispatchMs ?? deliveryMs),
    deliverySeconds: seconds(deliveryMs),
    deliveriesPerSecond: Math.round(delivered / (deliveryMs / 1000)),
    uploadToFinalSeconds: seconds(finalAt - uploadStarted),
    status: current.status,
    counts: current.counts,
  };
}

export function summaryTable(s: DemoSummary): string {
  const rows: [string, string][] = [
    ['rows in the file', `${formatCount(s.rows)} (${s.badRows} bad), ${formatBytes(s.bytes)}`],
    ['upload', `${s.uploadPath}, ${s.uploadSeconds} s`],
    ['imported', formatCount(s.imported)],
    [
      'rejected',
      `${formatCount(s.rejected)}${s.rejectionsReport ? `  (report: ${s.rejectionsReport})` : ''}`,
    ],
    ['duplicates', formatCount(s.duplicates)],
    ['import time', `${s.importSeconds} s, ${formatCount(s.importRowsPerSecond)} rows/s`],
    ['dispatch time', `${s.dispatchSeconds} s (send accepted -> every recipient on the queue)`],
    [
      'delivery time',
      `${s.deliverySeconds} s (send accepted -> final status), ${formatCount(s.deliveriesPerSecond)} messages/s`,
    ],
    ['final status', s.status],
    [
      'recipients',
      `sent ${formatCount(s.counts.sent)}, failed ${formatCount(s.counts.failed)}, skipped ${formatCount(
        s.counts.skipped,
      )}, pending ${formatCount(s.counts.pending)}, queued ${formatCount(s.counts.queued)}`,
    ],
    ['campaign', s.campaignId],
    ['upload to final', `${s.uploadToFinalSeconds} s (upload request -> final status)`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        rows: { type: 'string' },
        out: { type: 'string' },
        timeout: { type: 'string' },
        endpoint: { type: 'string' },
        'app-id': { type: 'string' },
        'api-key': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n${usage}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const rows = Number(values.rows ?? 100_000);
  if (!Number.isInteger(rows) || rows < 12 || rows > 100_000) {
    process.stderr.write(`error: --rows must be a whole number from 12 to 100,000, got '${values.rows}'.\n`);
    return 2;
  }
  const timeout = Number(values.timeout ?? 1800);
  if (!(timeout > 0)) {
    process.stderr.write(`error: --timeout must be a positive number of seconds, got '${values.timeout}'.\n`);
    return 2;
  }
  const json = values.json === true;
  const client = new ApiClient({
    endpoint:
      (values.endpoint as string | undefined) ?? process.env.CAMPAIGNS_ENDPOINT ?? LOCAL_DEFAULTS.endpoint,
    appId: (values['app-id'] as string | undefined) ?? process.env.CAMPAIGNS_APP_ID ?? LOCAL_DEFAULTS.appId,
    apiKey:
      (values['api-key'] as string | undefined) ?? process.env.CAMPAIGNS_API_KEY ?? LOCAL_DEFAULTS.apiKey,
  });
  try {
    const summary = await runDemo({
      client,
      rows,
      progress: !json,
      timeoutSeconds: timeout,
      ...(values.out ? { out: values.out as string } : {}),
      log: json ? undefined : (line) => process.stderr.write(`${line}\n`),
    });
    process.stdout.write(
      json ? `${JSON.stringify(summary, null, 2)}\n` : `\nsummary\n${summaryTable(summary)}\n`,
    );
    return summary.status === 'sent' ? 0 : 1;
  } catch (error) {
    if (error instanceof ApiError) {
      process.stderr.write(
        `error: ${error.code === 'ERR_UNREACHABLE' ? '' : `${error.code}: `}${error.message}\n`,
      );
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
