/**
 * `npm run bench`: every benchmark of docs/design.md's "Numbers it is held to", each next to
 * its bare baseline measured in the same run, as a table (or one JSON object with
 * `--json`). `--only api,import` runs a subset; `--recipients n` (default 100,000) sizes
 * the sections that store a campaign's recipients (dispatch, deliver), so a smoke test
 * can run them small.
 *
 * Each section runs in a process of its own: the AWS clients are created once per process
 * from the environment, as in a Lambda, and each section starts emulators of its own.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchApi } from './api.ts';
import { benchCsvParse } from './csv.ts';
import { benchDeliver, DELIVER_TARGET_RATIO, PACED_TARGET_RATIO, recipientsOption } from './deliver.ts';
import { benchDispatch } from './dispatch.ts';
import { benchImport } from './import.ts';
import { formatTable } from './lib/table.ts';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    only: { type: 'string' },
    section: { type: 'string' },
    recipients: { type: 'string' },
  },
});
const sections = ['api', 'import', 'dispatch', 'deliver'] as const;
/** Dispatch's target: at least the rate of a bare read of the same recipients followed by a bare send. */
const DISPATCH_TARGET_RATIO = 1.0;
let recipients: number | undefined;
try {
  recipients = recipientsOption(values.recipients);
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}
const only = values.only ? new Set(values.only.split(',')) : undefined;

const result: Record<string, Record<string, number | Record<string, number>>> = {};
const rows: Array<[string, string, string, string]> = [];
const wanted = (name: string) => values.section === name;

if (values.section === undefined) {
  for (const section of sections.filter((s) => !only || only.has(s))) {
    const args = [fileURLToPath(import.meta.url), '--section', section];
    if (recipients !== undefined) args.push('--recipients', String(recipients));
    const child = spawnSync(process.execPath, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 64 * 1024 * 1024,
    });
    const last = child.stdout.trim().split('\n').pop() ?? '';
    if (child.status !== 0 || !last.startsWith('{')) {
      console.error(`bench section '${section}' failed (exit ${child.status})`);
      process.exit(1);
    }
    const part = JSON.parse(last) as { result: typeof result; rows: typeof rows };
    Object.assign(result, part.result);
    rows.push(...part.rows);
  }
}

if (wanted('api')) {
  const { api, bare } = await benchApi();
  result.api = {
    p50Ms: api.p50Ms,
    p99Ms: api.p99Ms,
    requestsPerSecond: api.perSecond,
    errors: api.errors,
    bareP99Ms: bare.p99Ms,
    bareRequestsPerSecond: bare.perSecond,
  };
  rows.push([
    'API create+get campaign, 50 clients',
    `p99 ${api.p99Ms} ms, p50 ${api.p50Ms} ms, ${api.perSecond} req/s, ${api.errors} errors`,
    `bare node:http p99 ${bare.p99Ms} ms, ${bare.perSecond} req/s`,
    'p99 < 50 ms',
  ]);
}

if (wanted('import')) {
  const csv = await benchCsvParse();
  const ratio = csv.parseValidateRowsPerSecond / csv.csvParserRowsPerSecond;
  const wallRatio = csv.parseValidateWallRowsPerSecond / csv.csvParserWallRowsPerSecond;
  const run = await benchImport();
  result.import = {
    rowsPerSecond: run.rowsPerSecond,
    parseValidateRowsPerSecond: csv.parseValidateRowsPerSecond,
    csvParserRowsPerSecond: csv.csvParserRowsPerSecond,
    batchWriteItemsPerSecond: run.batchWriteItemsPerSecond,
    peakRssMiB: run.peakRssMiB,
  };
  rows.push(
    [
      'CSV parse + validate, 100,000 rows',
      `${csv.parseValidateRowsPerSecond} rows/cpu-s (${Math.round(ratio * 100)}%; wall ${csv.parseValidateWallRowsPerSecond} rows/s, ${Math.round(wallRatio * 100)}%)`,
      `bare csv-parser ${csv.csvParserRowsPerSecond} rows/cpu-s (wall ${csv.csvParserWallRowsPerSecond} rows/s)`,
      '>= 60% of bare',
    ],
    [
      `import of ${run.rows} rows, S3 object -> recipients stored`,
      `${run.rowsPerSecond} rows/s (${(run.batchWriteItemsPerSecond / run.rowsPerSecond).toFixed(2)}x the bare loop's time)`,
      `bare BatchWriteItem loop ${run.batchWriteItemsPerSecond} items/s`,
      '<= 1.3x bare loop',
    ],
    [
      'importer peak RSS (its own process)',
      `${run.peakRssMiB} MiB (${run.startRssMiB} MiB before the import)`,
      '-',
      '< 256 MiB',
    ],
  );
}

if (wanted('dispatch')) {
  const { dispatch } = await benchDispatch({ recipients });
  // The floor of any dispatcher that reads its recipients from DynamoDB: a bare read, then a bare send.
  const readAndSendRatio = dispatch.recipientsPerSecond / dispatch.bareReadAndSendRecipientsPerSecond;
  result.dispatch = { ...dispatch, readAndSendRatio };
  rows.push([
    `dispatch of ${dispatch.recipients} recipients onto SQS`,
    `${dispatch.seconds.toFixed(2)} s, ${dispatch.recipientsPerSecond} recipients/s (${readAndSendRatio.toFixed(2)}x bare Query + send)`,
    `bare Query (shards in parallel) + SendMessageBatch ${dispatch.bareReadAndSendRecipientsPerSecond} recipients/s; bare send alone ${dispatch.bareSendRecipientsPerSecond}`,
    `>= ${DISPATCH_TARGET_RATIO}x bare Query + send: ${readAndSendRatio >= DISPATCH_TARGET_RATIO ? 'met' : 'MISSED'}`,
  ]);
}

if (wanted('deliver')) {
  const { deliver } = await benchDeliver({ recipients });
  result.deliver = {
    recipients: deliver.recipients,
    seconds: deliver.seconds,
    recipientsPerSecond: deliver.recipientsPerSecond,
    bareRecipientsPerSecond: deliver.bareRecipientsPerSecond,
    ratio: deliver.ratio,
    webhookSeconds: deliver.webhookSeconds,
    webhookRecipientsPerSecond: deliver.webhookRecipientsPerSecond,
    webhookRatio: deliver.webhookRatio,
    paced: deliver.paced,
  };
  const met = deliver.ratio >= DELIVER_TARGET_RATIO;
  rows.push([
    `delivery of ${deliver.recipients} recipients off SQS, ${deliver.pollers} pollers, outbox channel`,
    `${deliver.seconds.toFixed(2)} s, ${deliver.recipientsPerSecond} recipients/s (${deliver.ratio.toFixed(2)}x bare)`,
    `bare Receive + BatchWriteItem + DeleteMessageBatch ${deliver.bareRecipientsPerSecond} recipients/s`,
    `>= ${DELIVER_TARGET_RATIO}x bare: ${met ? 'met' : 'MISSED'}`,
  ]);
  rows.push([
    `delivery of ${deliver.recipients} recipients off SQS, ${deliver.pollers} pollers, an app's signed batch webhook on loopback`,
    `${deliver.webhookSeconds.toFixed(2)} s, ${deliver.webhookRecipientsPerSecond} recipients/s (${deliver.webhookRatio.toFixed(2)}x bare)`,
    `bare Receive + BatchWriteItem + DeleteMessageBatch ${deliver.bareRecipientsPerSecond} recipients/s`,
    'reported, no target of its own',
  ]);
  const { paced } = deliver;
  const pacedMet =
    paced.ratio >= PACED_TARGET_RATIO && paced.mostInOneSecond <= paced.ratePerSecond + paced.burst;
  rows.push([
    `delivery of ${paced.recipients} recipients to a webhook paced at ${paced.ratePerSecond}/s (burst ${paced.burst})`,
    `${paced.achievedPerSecond} recipients/s at the receiver (${paced.ratio.toFixed(2)}x the rate); at most ${paced.mostInOneSecond} in any second`,
    `configured ${paced.ratePerSecond}/s`,
    `>= ${PACED_TARGET_RATIO}x the rate, <= ${paced.ratePerSecond + paced.burst} in any second: ${pacedMet ? 'met' : 'MISSED'}`,
  ]);
}

if (values.section !== undefined) {
  console.log(JSON.stringify({ result, rows }));
} else if (values.json) {
  console.log(JSON.stringify(result));
} else {
  console.log(formatTable(['what', 'measured', 'baseline (same run)', 'target'], rows));
}
