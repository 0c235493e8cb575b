#!/usr/bin/env node
/**
 * `campaigns`: the command line of the campaign API (docs/cli.md). Run it as
 * `npx campaigns <command>` from the project (npm exec finds the package's own `bin`),
 * `npm run cli -- <command>`, or `node cli/campaigns.ts <command>`.
 *
 * Exit codes: 0 done; 1 the API answered an error, an import failed, `csv check` found
 * problems, or `destination test` got no 2xx from the webhook; 2 the command line is wrong.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { CAMPAIGN_STATUSES } from '#shared/domain/campaign-status.ts';
import {
  ApiClient,
  ApiError,
  type CampaignProgressView,
  type CampaignView,
  type Connection,
  type DestinationTestView,
  type DestinationView,
  type RecipientView,
  type SendView,
  type TemplateView,
} from './api.ts';
import { type CsvCheckResult, checkCsvFile, checkCsvRemote, type RemoteCheckResult } from './csv-check.ts';
import { exportRecipients } from './export.ts';
import { formatBytes, formatCount, formatDuration, ProgressBar } from './progress.ts';
import { visible, visibleLines } from './terminal.ts';
import { DIRECT_UPLOAD_MAX_BYTES, uploadFile } from './upload.ts';

/** What `npm start` listens on and seeds (infra/local/start.ts, docs/api.md). */
export const LOCAL_DEFAULTS = {
  endpoint: `http://127.0.0.1:${process.env.PORT ?? 3000}`,
  appId: 'local-app',
  apiKey: 'local-api-key',
};

class UsageError extends Error {
  override name = 'UsageError';
}

const optionSpecs = {
  endpoint: { type: 'string' },
  'app-id': { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  name: { type: 'string' },
  title: { type: 'string' },
  body: { type: 'string' },
  schema: { type: 'string' },
  template: { type: 'string' },
  tag: { type: 'string' },
  status: { type: 'string' },
  at: { type: 'string' },
  campaign: { type: 'string' },
  report: { type: 'string' },
  'direct-max-bytes': { type: 'string' },
  max: { type: 'string' },
  table: { type: 'string' },
  'dynamodb-endpoint': { type: 'string' },
  url: { type: 'string' },
  'batch-size': { type: 'string' },
  rate: { type: 'string' },
  'no-rate': { type: 'boolean' },
  default: { type: 'boolean' },
  statuses: { type: 'string' },
  'idempotency-key': { type: 'string' },
  remote: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
} as const;

type Values = {
  [K in keyof typeof optionSpecs]?: (typeof optionSpecs)[K]['type'] extends 'boolean' ? boolean : string;
};
const GLOBAL = ['endpoint', 'app-id', 'api-key', 'json', 'help'];

interface Context {
  args: string[];
  values: Values;
  json: boolean;
  api(): ApiClient;
}

interface Command {
  usage: string;
  summary: string;
  /** Options besides the global ones, with their help lines. */
  options?: Record<string, string>;
  details?: string;
  example: string;
  /** Positional arguments after the command words. */
  positionals: number;
  run(ctx: Context): Promise<number>;
}

/** JSON as it is (its strings are escaped already), or the human text with control characters made visible. */
function print(ctx: Context, value: unknown, human: () => string): void {
  process.stdout.write(ctx.json ? `${JSON.stringify(value, null, 2)}\n` : `${visibleLines(human())}\n`);
}

function required(value: string | undefined, option: string, command: string): string {
  if (value === undefined || value === '') throw new UsageError(`${command} needs --${option}.`);
  return value;
}

/** A table with a header row, columns padded to their widest cell. */
function table(header: string[], rows: string[][]): string {
  // A cell's newline would fake a row of its own: shown as an escape, like any control character.
  rows = rows.map((row) => row.map(visible));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const id = (value: string) => encodeURIComponent(value);

function schemaText(schema: TemplateView['variableSchema']): string {
  return Object.entries(schema ?? {})
    .map(
      ([k, s]) =>
        `${k}:${s.type}${s.required ? '!' : ''}${s.default !== undefined ? `=${JSON.stringify(s.default)}` : ''}`,
    )
    .join(' ');
}

function templateText(t: TemplateView): string {
  return [
    `template ${t.id}  ${t.status}`,
    `  name     ${t.name}`,
    ...(t.title ? [`  title    ${t.title}`] : []),
    `  body     ${t.body}`,
    `  schema   ${schemaText(t.variableSchema) || '(no variables)'}   (! required, =default)`,
  ].join('\n');
}

/** While sending: when it started, the rate of the last minute and the expected end, as of `now`. */
function progressLines(progress: CampaignProgressView, now: number): string[] {
  const { ratePerSecond, eta, startedAt } = progress;
  return [
    ...(startedAt ? [`  started     ${startedAt}`] : []),
    `  rate        ${ratePerSecond === null ? 'not measured yet (nothing settled in the last minute)' : `${ratePerSecond} recipients/s over the last minute`}`,
    `  eta         ${eta === null ? 'unknown until a rate is measured' : `${eta} (in ${formatDuration(Date.parse(eta) - now)})`}`,
  ];
}

/** What `campaign get` and the other campaign commands print for a person. */
export function campaignText(c: CampaignView, now: number = Date.now()): string {
  const counts: Partial<CampaignView['counts']> = c.counts ?? {};
  return [
    `campaign ${c.id}  ${c.status}`,
    `  name        ${c.name}`,
    `  template    ${c.templateId}`,
    ...(c.tag ? [`  tag         ${c.tag}`] : []),
    `  recipients  ${formatCount(c.recipientCount ?? 0)}`,
    `  counts      pending ${counts.pending ?? 0}, queued ${counts.queued ?? 0}, sent ${counts.sent ?? 0}, failed ${counts.failed ?? 0}, skipped ${counts.skipped ?? 0}`,
    ...(c.progress ? progressLines(c.progress, now) : []),
    ...(c.scheduledAt ? [`  scheduled   ${c.scheduledAt}`] : []),
    `  created     ${c.createdAt}`,
    ...(c.completedAt ? [`  completed   ${c.completedAt}`] : []),
    ...(c.followUpOf
      ? [
          `  follow-up   of ${c.followUpOf} (${(c.followUpStatuses ?? []).join(', ')})${c.copying ? ', recipients still being copied' : ''}`,
        ]
      : []),
  ].join('\n');
}

function readSchema(value: string): unknown {
  const text = value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `--schema is not JSON (${(error as Error).message}); pass e.g. '{"first_name":{"type":"string"}}' or @schema.json.`,
    );
  }
}

function positiveInt(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`--${option} must be a positive whole number, got '${value}'.`);
  return n;
}

function destinationText(d: DestinationView): string {
  if (d.kind === 'default') {
    return [
      "destination default  (messages go to the deployment's own channel)",
      `  updated     ${d.updatedAt ?? 'never set'}`,
    ].join('\n');
  }
  return [
    'destination webhook',
    ...(d.url ? [`  url         ${d.url}`] : []),
    `  batch size  ${d.batchSize} recipients a request`,
    `  rate        ${d.ratePerSecond === null ? 'no limit of its own' : `${formatCount(d.ratePerSecond)} recipients a second`}`,
    ...(d.secretHint
      ? [
          `  secret      whsec_…${d.secretHint}  (its last ${d.secretHint.length} characters; shown in full once)`,
        ]
      : []),
    `  updated     ${d.updatedAt ?? 'never set'}`,
  ].join('\n');
}

/** A signing secret the API answered: the one time it is shown. */
function secretText(secret: string, rotated: boolean): string {
  return [
    '',
    'Signing secret. It is shown only this once: store it now (later answers show its last 4 characters):',
    '',
    `  ${secret}`,
    '',
    ...(rotated
      ? [
          "For the next 24 hours deliveries carry the old secret's signature too, so a receiver can switch",
          'to the new one without missing a delivery.',
          '',
        ]
      : []),
    'Deliveries are signed to the Standard Webhooks specification (headers webhook-id, webhook-timestamp,',
    'webhook-signature). Verify each one with the raw body, e.g. with the standardwebhooks package:',
    "  import { Webhook } from 'standardwebhooks';",
    '  new Webhook(secret).verify(rawBody, headers); // throws when the signature does not match',
  ].join('\n');
}

/** In --json mode the secret is in the JSON; the note goes to stderr, keeping stdout JSON. */
function secretNote(ctx: Context): void {
  if (ctx.json) {
    process.stderr.write(
      'note: signingSecret is shown only this once; store it now. Verify deliveries with it (Standard Webhooks, the standardwebhooks package).\n',
    );
  }
}

function testText(t: DestinationTestView): string {
  return [
    `test event: ${t.ok ? 'ok' : 'failed'}`,
    `  status   ${t.status === null ? 'no answer' : String(t.status)}`,
    `  latency  ${formatCount(Math.round(t.latencyMs))} ms`,
    ...(t.error ? [`  error    ${t.error}`] : []),
  ].join('\n');
}

/** The lines `csv check --remote` adds: what the dry run detected, and its preview. */
function remoteCheckText(result: RemoteCheckResult): string[] {
  const d = result.detected;
  return [
    ...(d
      ? [
          `detected: ${d.encoding}${d.bom ? ' with BOM' : ''}, ${d.lineEndings} line endings, '${d.delimiter}' delimiter, ${formatCount(d.rows)} rows`,
        ]
      : []),
    ...((result.preview ?? []).length > 0
      ? [
          'preview (the first valid rows, rendered):',
          table(
            ['ROW', 'USER_ID', 'TITLE', 'BODY'],
            (result.preview ?? []).map((p) => [
              String(p.row),
              p.userId,
              p.rendered?.title ?? '',
              p.rendered ? p.rendered.body : `(cannot be rendered: ${p.renderError ?? ''})`,
            ]),
          ),
        ]
      : []),
  ];
}

/** A number option, or a usage error; the API checks its range. */
function numberOption(value: string, option: string, integer: boolean): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${option} must be a ${integer ? 'whole number' : 'number'}, got '${value}'.`);
  }
  return n;
}

export const commands: Record<string, Command> = {
  'app create': {
    usage: 'app create <appId> [--table <name>] [--dynamodb-endpoint <url>]',
    summary: 'Create an app (or add a key to it) and print its new API key once. Local only.',
    options: {
      '--table <name>': 'the DynamoDB table (default: env TABLE_NAME)',
      '--dynamodb-endpoint <url>':
        'DynamoDB endpoint (default: env AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL)',
    },
    details:
      'Writes straight to DynamoDB like `npm run app:create` (scripts/app-create.ts); it does not go through\n' +
      'the HTTP API, so it needs the table and credentials, not --endpoint. Against `npm start`, pass the\n' +
      "DynamoDB endpoint and table it prints. Only the key's hash is stored: keep the printed key.",
    example: 'campaigns app create my-app --dynamodb-endpoint http://127.0.0.1:43123 --table csv-campaigns',
    positionals: 1,
    async run(ctx) {
      const appId = ctx.args[0] as string;
      const { APP_ID_PATTERN } = await import('#shared/domain/api-keys.ts');
      if (!APP_ID_PATTERN.test(appId)) {
        throw new UsageError(`appId '${appId}' is invalid: use 1-64 letters, digits, _ or -.`);
      }
      if (ctx.values.table) process.env.TABLE_NAME = ctx.values.table;
      if (ctx.values['dynamodb-endpoint']) {
        process.env.AWS_ENDPOINT_URL_DYNAMODB = ctx.values['dynamodb-endpoint'];
        // The local emulators take any credentials; real AWS keeps its own.
        process.env.AWS_ACCESS_KEY_ID ??= 'local';
        process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
      }
      process.env.AWS_REGION ??= 'us-east-1';
      if (!process.env.TABLE_NAME) {
        throw new UsageError(
          'app create needs the table: pass --table or set TABLE_NAME (npm start prints it).',
        );
      }
      // Loaded after the environment is set: the store reads TABLE_NAME when it loads.
      const { addApiKey } = await import('#shared/store/apps.ts');
      let apiKey: string;
      try {
        apiKey = await addApiKey(appId);
      } catch (error) {
        throw new ApiError(0, 'ERR_APP_CREATE', `Could not create the app key: ${(error as Error).message}`);
      }
      print(ctx, { appId, apiKey }, () =>
        [
          `App '${appId}' has a new API key. It is shown only this once; store it now:`,
          '',
          `  appId   ${appId}`,
          `  apiKey  ${apiKey}`,
          '',
          `Use it with --app-id ${appId} --api-key <key>, or CAMPAIGNS_APP_ID / CAMPAIGNS_API_KEY.`,
        ].join('\n'),
      );
      return 0;
    },
  },

  'template create': {
    usage: 'template create --name <name> --body <text> [--schema <json|@file>] [--title <text>]',
    summary: 'Create a draft template.',
    options: {
      '--name <name>': 'its name',
      '--body <text>': 'the message body; every {{key}} must be a key of the schema',
      '--title <text>': 'an optional title (placeholders allowed)',
      '--schema <json|@file>': 'the variableSchema, JSON or @path to a JSON file (default {})',
    },
    example: `campaigns template create --name Welcome --body 'Hi {{first_name}}, code {{code}}' \\\n    --schema '{"first_name":{"type":"string","default":"there"},"code":{"type":"number","required":true}}'`,
    positionals: 0,
    async run(ctx) {
      const v = ctx.values;
      const template = await ctx.api().data<TemplateView>('POST', '/api/templates', {
        name: required(v.name, 'name', 'template create'),
        body: required(v.body, 'body', 'template create'),
        ...(v.title !== undefined ? { title: v.title } : {}),
        variableSchema: v.schema === undefined ? {} : readSchema(v.schema),
      });
      print(ctx, template, () => templateText(template));
      return 0;
    },
  },

  'template approve': {
    usage: 'template approve <templateId>',
    summary: 'Approve a template: campaigns can use it, and its content and schema are frozen.',
    example: 'campaigns template approve tpl_01jd…',
    positionals: 1,
    async run(ctx) {
      const template = await ctx
        .api()
        .data<TemplateView>('PUT', `/api/templates/${id(ctx.args[0] as string)}`, { status: 'approved' });
      print(ctx, template, () => templateText(template));
      return 0;
    },
  },

  'template get': {
    usage: 'template get <templateId>',
    summary: 'Show a template.',
    example: 'campaigns template get tpl_01jd…',
    positionals: 1,
    async run(ctx) {
      const template = await ctx
        .api()
        .data<TemplateView>('GET', `/api/templates/${id(ctx.args[0] as string)}`);
      print(ctx, template, () => templateText(template));
      return 0;
    },
  },

  'template list': {
    usage: 'template list',
    summary: 'List every template of the app (all pages).',
    example: 'campaigns template list',
    positionals: 0,
    async run(ctx) {
      const templates = await ctx.api().all<TemplateView>('/api/templates');
      print(ctx, templates, () =>
        templates.length === 0
          ? 'No templates.'
          : table(
              ['ID', 'STATUS', 'NAME', 'SCHEMA'],
              templates.map((t) => [t.id, t.status, t.name, schemaText(t.variableSchema)]),
            ),
      );
      return 0;
    },
  },

  'campaign create': {
    usage: 'campaign create --name <name> --template <templateId> [--tag <tag>]',
    summary: 'Create a draft campaign on an approved template.',
    options: {
      '--name <name>': 'its name',
      '--template <id>': 'an approved template',
      '--tag <tag>': 'optional',
    },
    example: 'campaigns campaign create --name "Spring sale" --template tpl_01jd…',
    positionals: 0,
    async run(ctx) {
      const v = ctx.values;
      const campaign = await ctx.api().data<CampaignView>('POST', '/api/campaigns', {
        name: required(v.name, 'name', 'campaign create'),
        templateId: required(v.template, 'template', 'campaign create'),
        ...(v.tag !== undefined ? { tag: v.tag } : {}),
      });
      print(ctx, campaign, () => campaignText(campaign));
      return 0;
    },
  },

  'campaign get': {
    usage: 'campaign get <campaignId>',
    summary:
      'Show a campaign: status, recipient count and delivery counts; while sending, the rate and the expected end.',
    example: 'campaigns campaign get cmp_01jd…',
    positionals: 1,
    async run(ctx) {
      const campaign = await ctx
        .api()
        .data<CampaignView>('GET', `/api/campaigns/${id(ctx.args[0] as string)}`);
      print(ctx, campaign, () => campaignText(campaign));
      return 0;
    },
  },

  'campaign list': {
    usage: 'campaign list [--status <status>]',
    summary: 'List the campaigns of the app (all pages), optionally of one status.',
    options: {
      '--status <status>': `${CAMPAIGN_STATUSES.slice(0, -1).join(', ')} or ${CAMPAIGN_STATUSES.at(-1)}`,
    },
    example: 'campaigns campaign list --status sending',
    positionals: 0,
    async run(ctx) {
      const campaigns = await ctx.api().all<CampaignView>('/api/campaigns', { status: ctx.values.status });
      print(ctx, campaigns, () =>
        campaigns.length === 0
          ? 'No campaigns.'
          : table(
              ['ID', 'STATUS', 'RECIPIENTS', 'SENT', 'FAILED', 'NAME'],
              campaigns.map((c) => [
                c.id,
                c.status,
                String(c.recipientCount),
                String(c.counts?.sent ?? 0),
                String(c.counts?.failed ?? 0),
                c.name,
              ]),
            ),
      );
      return 0;
    },
  },

  'campaign send': {
    usage: 'campaign send <campaignId> [--at <ISO time>]',
    summary: 'Send a draft campaign now, or schedule it with --at.',
    options: {
      '--at <ISO time>': 'send at this time (ISO-8601 with a zone, in the future), e.g. 2026-12-01T09:00:00Z',
    },
    example: 'campaigns campaign send cmp_01jd… --at 2026-12-01T09:00:00Z',
    positionals: 1,
    async run(ctx) {
      const at = ctx.values.at;
      const sent = await ctx
        .api()
        .data<SendView>(
          'POST',
          `/api/campaigns/${id(ctx.args[0] as string)}/send`,
          at === undefined ? {} : { scheduledAt: at },
        );
      print(ctx, sent, () =>
        sent.status === 'scheduled'
          ? `campaign ${sent.id} scheduled for ${sent.scheduledAt}`
          : `campaign ${sent.id} is ${sent.status}; follow it with: campaigns campaign get ${sent.id}`,
      );
      return 0;
    },
  },

  // Follow-up (docs/cli.md, campaign follow-up).
  'campaign follow-up': {
    usage:
      'campaign follow-up <campaignId> --statuses <failed,skipped,pending> [--name <name>] [--template <templateId>] [--tag <tag>] [--idempotency-key <key>]',
    summary:
      "Create a draft campaign of a finished campaign's failed, skipped or pending recipients, and wait for them to be copied.",
    options: {
      '--statuses <list>':
        'comma-separated recipient statuses to copy: failed, skipped, pending (never sent)',
      '--name <name>': 'its name (default: the source\'s name and "(follow-up)")',
      '--template <id>':
        "another approved template (default: the source's); the recipients must have its required variables",
      '--tag <tag>': 'optional',
      '--idempotency-key <key>':
        'the Idempotency-Key: running the command again with it answers the same campaign',
    },
    details:
      'The recipients are copied in the background; a progress line runs until the follow-up can be sent (not with --json, which prints the campaign once copied).',
    example: 'campaigns campaign follow-up cmp_01jd… --statuses failed,skipped',
    positionals: 1,
    async run(ctx) {
      const v = ctx.values;
      const sourceId = id(ctx.args[0] as string);
      const statuses = required(v.statuses, 'statuses', 'campaign follow-up')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const api = ctx.api();
      const source = await api.data<CampaignView>('GET', `/api/campaigns/${sourceId}`);
      const name = v.name ?? `${source.name} (follow-up)`.slice(0, 200);
      const created = await api.data<CampaignView>(
        'POST',
        `/api/campaigns/${sourceId}/follow-up`,
        {
          name,
          statuses,
          ...(v.template !== undefined ? { templateId: v.template } : {}),
          ...(v.tag !== undefined ? { tag: v.tag } : {}),
        },
        v['idempotency-key'] === undefined ? {} : { 'Idempotency-Key': v['idempotency-key'] },
      );
      const expected = statuses.reduce(
        (sum, s) => sum + ((source.counts as Record<string, number> | undefined)?.[s] ?? 0),
        0,
      );
      const bar = new ProgressBar('copying', expected, { enabled: !ctx.json, unit: 'rows' });
      let campaign = created;
      while (campaign.copying) {
        bar.update(0, { note: 'recipients being copied' });
        await sleep(500);
        campaign = await api.data<CampaignView>('GET', `/api/campaigns/${created.id}`);
      }
      bar.finish('copied', campaign.recipientCount);
      print(ctx, campaign, () =>
        [campaignText(campaign), `send it with: campaigns campaign send ${campaign.id}`].join('\n'),
      );
      return 0;
    },
  },

  'campaign cancel': {
    usage: 'campaign cancel <campaignId>',
    summary: 'Cancel a draft, scheduled or sending campaign; undelivered recipients become skipped.',
    example: 'campaigns campaign cancel cmp_01jd…',
    positionals: 1,
    async run(ctx) {
      const campaign = await ctx
        .api()
        .data<CampaignView>('POST', `/api/campaigns/${id(ctx.args[0] as string)}/cancel`);
      print(ctx, campaign, () => campaignText(campaign));
      return 0;
    },
  },

  upload: {
    usage: 'upload <file.csv> --campaign <campaignId> [--report <path>] [--direct-max-bytes <n>]',
    summary: 'Upload a CSV of recipients to a draft campaign, with progress, and summarise the import.',
    options: {
      '--campaign <id>': 'the draft campaign',
      '--report <path>': 'where to save the rejections report (default ./rejections-<uploadId>.csv)',
      '--direct-max-bytes <n>': `files up to this size go through the API, larger ones by presigned PUT to S3 (default ${DIRECT_UPLOAD_MAX_BYTES}, the API's default limit)`,
    },
    details:
      'Files up to 4 MiB are posted to the API (multipart); larger ones (up to 50 MiB) are PUT to a presigned S3 URL.\n' +
      'A bar counts the bytes sent, then the rows imported (from the upload status). When rows are rejected, the\n' +
      'full rejections report (row, user_id, reason) is downloaded and its path printed. Exit code 1 if the import\n' +
      'failed (a file-level error: nothing was added); rejected rows alone do not fail the upload.',
    example: 'campaigns upload audience.csv --campaign cmp_01jd…',
    positionals: 1,
    async run(ctx) {
      const file = ctx.args[0] as string;
      const campaignId = required(ctx.values.campaign, 'campaign', 'upload');
      const result = await uploadFile(ctx.api(), file, {
        campaignId,
        progress: !ctx.json,
        directMaxBytes: positiveInt(
          ctx.values['direct-max-bytes'],
          'direct-max-bytes',
          DIRECT_UPLOAD_MAX_BYTES,
        ),
        ...(ctx.values.report ? { reportPath: ctx.values.report } : {}),
      });
      print(ctx, result, () =>
        [
          `upload ${result.uploadId} (${result.path}, ${formatBytes(result.bytes)}): ${result.status}`,
          ...(result.error ? [`  error       ${result.error.code}: ${result.error.message}`] : []),
          `  rows read   ${formatCount(result.rowsRead)}`,
          `  imported    ${formatCount(result.imported)}`,
          `  rejected    ${formatCount(result.rejected)}`,
          `  duplicates  ${formatCount(result.duplicates)}`,
          `  campaign    ${formatCount(result.recipientCount)} recipients`,
          ...(result.rejectionsReport ? [`  rejections report: ${result.rejectionsReport}`] : []),
          ...result.rejections
            .slice(0, 5)
            .map((r) => `    row ${r.row}  ${visible(r.userId) || "''"}  ${visible(r.reason)}`),
          ...(result.rejected > 5 ? [`    … ${formatCount(result.rejected - 5)} more in the report`] : []),
        ].join('\n'),
      );
      if (result.status === 'failed') {
        process.stderr.write(`error: ${visible(result.error?.message ?? 'the import failed')}\n`);
        return 1;
      }
      return 0;
    },
  },

  recipients: {
    usage: 'recipients <campaignId> [--status <status>]',
    summary: "List a campaign's recipients (all pages), optionally of one status.",
    options: { '--status <status>': 'pending, queued, sent, failed or skipped' },
    example: 'campaigns recipients cmp_01jd… --status failed',
    positionals: 1,
    async run(ctx) {
      const recipients = await ctx
        .api()
        .all<RecipientView>(`/api/campaigns/${id(ctx.args[0] as string)}/recipients`, {
          status: ctx.values.status,
        });
      print(ctx, recipients, () =>
        recipients.length === 0
          ? 'No recipients.'
          : `${table(
              ['USER_ID', 'STATUS', 'UPDATED', 'ERROR'],
              recipients.map((r) => [r.userId, r.status, r.updatedAt, r.error ?? '']),
            )}\n${formatCount(recipients.length)} recipients`,
      );
      return 0;
    },
  },

  // Recipient exports (docs/cli.md, "Exporting recipients").
  'recipients export': {
    usage: 'recipients export <campaignId> [--status <status>] [--output <file.csv>]',
    summary: "Export a campaign's recipients as CSV (user_id, variables, status, error) to stdout or a file.",
    options: {
      '--status <status>': 'only these recipients: pending, queued, sent, failed or skipped',
      '--output <file.csv>': 'write the CSV to this file instead of stdout (-o)',
    },
    details:
      'The file uploads back as it is to a campaign on the same template (campaigns upload): formula-looking\n' +
      "cells carry a leading ' that the importer removes, and the status and error columns are ignored.\n" +
      "A small export is the API's answer; a large one is written by an export job: the rows written are shown\n" +
      'on stderr while it runs, then the file is downloaded. The summary goes to stderr (to stdout with --output).',
    example: 'campaigns recipients export cmp_01jd… --status failed > failed.csv',
    positionals: 1,
    async run(ctx) {
      const path = ctx.values.output;
      const out = path === undefined ? process.stdout : createWriteStream(path);
      const result = await exportRecipients(ctx.api(), ctx.args[0] as string, {
        ...(ctx.values.status === undefined ? {} : { status: ctx.values.status }),
        out,
        progress: !ctx.json,
      });
      const summary = `exported ${formatCount(result.rows)} recipients of ${result.campaignId} (${formatBytes(result.bytes)}${
        result.exportId ? `, export ${result.exportId}` : ''
      })${path === undefined ? '' : ` to ${path}`}`;
      if (path === undefined) process.stderr.write(`${summary}\n`);
      else print(ctx, { ...result, path }, () => summary);
      return 0;
    },
  },

  'csv check': {
    usage:
      'csv check <file.csv> (--template <templateId> | --remote --campaign <campaignId>) [--max <n>] [--direct-max-bytes <n>]',
    summary:
      "Check a CSV against a template's variableSchema locally with the importer's own code, or by the API's dry run against a campaign; adds nothing.",
    options: {
      '--template <id>': 'the template whose variableSchema the file must match (fetched from the API)',
      '--remote':
        "check with the API's dry run of an upload instead (the deployed importer; nothing is added)",
      '--campaign <id>': 'with --remote: the campaign whose template the file must match (any status)',
      '--direct-max-bytes <n>': `with --remote: files up to this size go through the API, larger ones by presigned PUT (default ${DIRECT_UPLOAD_MAX_BYTES})`,
      '--max <n>': 'rejections printed (default 100; --json prints all)',
    },
    details:
      'Runs the same validation the importer runs on an upload (shared/domain/import-upload.ts): the same\n' +
      'file-level errors, the same rejected rows and reasons. With --remote the API runs it (POST\n' +
      '/api/campaigns/upload?dryRun=true, or a presigned dry run above the direct limit) and also answers what\n' +
      'it detected of the file (encoding, BOM, line endings, delimiter, rows) and the first 5 valid rows\n' +
      "rendered through the campaign's template; it lists the first 100 rejections, as an upload record keeps\n" +
      'them. Exit code 1 if the file has a file-level error or any rejected row.',
    example:
      'campaigns csv check audience.csv --template tpl_01jd…   campaigns csv check audience.csv --remote --campaign cmp_01jd…',
    positionals: 1,
    async run(ctx) {
      const file = ctx.args[0] as string;
      const max = positiveInt(ctx.values.max, 'max', 100);
      let result: CsvCheckResult | RemoteCheckResult;
      let about: Record<string, string>;
      if (ctx.values.remote) {
        if (ctx.values.template !== undefined) {
          throw new UsageError(
            'csv check --remote checks against a campaign: give --campaign <campaignId> instead of --template.',
          );
        }
        const campaignId = required(ctx.values.campaign, 'campaign', 'csv check --remote');
        await stat(file); // a missing file is reported before the API is asked
        result = await checkCsvRemote(ctx.api(), file, {
          campaignId,
          directMaxBytes: positiveInt(
            ctx.values['direct-max-bytes'],
            'direct-max-bytes',
            DIRECT_UPLOAD_MAX_BYTES,
          ),
        });
        about = {};
      } else {
        const templateId = required(ctx.values.template, 'template', 'csv check');
        await stat(file); // a missing file is reported before the API is asked
        const template = await ctx.api().data<TemplateView>('GET', `/api/templates/${id(templateId)}`);
        result = await checkCsvFile(file, template.variableSchema);
        about = { templateId };
      }
      const checked = result;
      print(ctx, { file, ...about, ...checked }, () => {
        if (checked.error)
          return `${file}: the whole file would be rejected, nothing added:\n  ${checked.error.message}`;
        const remote = 'detected' in checked ? checked : undefined;
        return [
          `${file}: ${formatCount(checked.rowsRead)} rows, ${formatCount(checked.valid)} valid, ${formatCount(checked.rejected)} rejected, ${formatCount(checked.duplicates)} duplicates`,
          ...(checked.rejections.length > 0
            ? [
                table(
                  ['ROW', 'USER_ID', 'REASON'],
                  checked.rejections.slice(0, max).map((r) => [String(r.row), r.userId, r.reason]),
                ),
              ]
            : []),
          ...(checked.rejections.length > max
            ? [`… ${formatCount(checked.rejections.length - max)} more (--max or --json)`]
            : []),
          ...(remote && checked.rejected > checked.rejections.length
            ? [
                `… ${formatCount(checked.rejected - checked.rejections.length)} more rejected (the API lists the first ones)`,
              ]
            : []),
          ...(remote ? remoteCheckText(remote) : []),
        ].join('\n');
      });
      return result.ok ? 0 : 1;
    },
  },

  'destination get': {
    usage: 'destination get',
    summary: "Show where the app's messages go: the deployment's default, or a webhook of the app's own.",
    example: 'campaigns destination get',
    positionals: 0,
    async run(ctx) {
      const destination = await ctx.api().data<DestinationView>('GET', '/api/destination');
      print(ctx, destination, () => destinationText(destination));
      return 0;
    },
  },

  'destination set': {
    usage: 'destination set (--url <url> [--batch-size <n>] [--rate <n> | --no-rate] | --default)',
    summary: "Send the app's messages to a webhook (signed with the app's secret), or back to the default.",
    options: {
      '--url <url>': 'the webhook: https (plain http only to loopback, in the local runtime)',
      '--batch-size <n>': 'most recipients a request, 1-100 (default 100)',
      '--rate <n>':
        'most recipients a second, 1-10,000 (default none): deliveries to the webhook never go faster',
      '--no-rate': 'no rate limit of its own (the same as leaving --rate out)',
      '--default': "back to the deployment's default channel (the secret is kept for a later webhook)",
    },
    details:
      'A set replaces the whole destination: an option left out takes its default (batch size 100, no rate).\n' +
      "The app's first webhook answers its signing secret, printed once; later sets keep that secret and\n" +
      'show only its last 4 characters (rotate it with destination rotate-secret).',
    example: 'campaigns destination set --url https://hooks.example.com/campaigns --batch-size 50 --rate 200',
    positionals: 0,
    async run(ctx) {
      const v = ctx.values;
      let body: Record<string, unknown>;
      if (v.default) {
        const extra = (['url', 'batch-size', 'rate', 'no-rate'] as const).filter((k) => v[k] !== undefined);
        if (extra.length > 0) {
          throw new UsageError(
            `destination set --default takes no ${extra.map((k) => `--${k}`).join(', ')}.`,
          );
        }
        body = { kind: 'default' };
      } else {
        if (v.url === undefined || v.url === '') {
          throw new UsageError('destination set needs --url <url>, or --default.');
        }
        if (v.rate !== undefined && v['no-rate']) {
          throw new UsageError('destination set takes --rate or --no-rate, not both.');
        }
        body = {
          kind: 'webhook',
          url: v.url,
          ...(v['batch-size'] === undefined
            ? {}
            : { batchSize: numberOption(v['batch-size'], 'batch-size', true) }),
          ...(v.rate !== undefined ? { ratePerSecond: numberOption(v.rate, 'rate', false) } : {}),
          ...(v['no-rate'] ? { ratePerSecond: null } : {}),
        };
      }
      const destination = await ctx.api().data<DestinationView>('PUT', '/api/destination', body);
      print(ctx, destination, () =>
        [
          destinationText(destination),
          ...(destination.signingSecret ? [secretText(destination.signingSecret, false)] : []),
        ].join('\n'),
      );
      if (destination.signingSecret) secretNote(ctx);
      return 0;
    },
  },

  'destination rotate-secret': {
    usage: 'destination rotate-secret',
    summary: "Replace the webhook's signing secret and print the new one once; the old one signs 24 h more.",
    details:
      'For 24 hours after a rotation every delivery carries two signatures, one with each secret, so the\n' +
      'receiver can move to the new secret at its own pace. Exit code 1 when the app has no webhook.',
    example: 'campaigns destination rotate-secret',
    positionals: 0,
    async run(ctx) {
      const rotated = await ctx
        .api()
        .data<{ signingSecret: string }>('POST', '/api/destination/rotate-secret');
      print(ctx, rotated, () => secretText(rotated.signingSecret, true).trimStart());
      secretNote(ctx);
      return 0;
    },
  },

  'destination test': {
    usage: 'destination test',
    summary: 'Send one signed `test` event to the webhook and print its status and latency.',
    details:
      "The event is signed like a delivery, so it also checks the receiver's verification. Exit code 1 when\n" +
      'the webhook did not answer 2xx (or at all), or when the app has no webhook.',
    example: 'campaigns destination test',
    positionals: 0,
    async run(ctx) {
      const result = await ctx.api().data<DestinationTestView>('POST', '/api/destination/test');
      print(ctx, result, () => testText(result));
      if (!result.ok) {
        process.stderr.write(
          `error: the webhook ${result.status === null ? 'did not answer' : `answered HTTP ${result.status}`}${
            result.error ? `: ${visible(result.error)}` : ''
          }\n`,
        );
        return 1;
      }
      return 0;
    },
  },
};

const GROUPS = ['app', 'template', 'campaign', 'csv', 'destination'];

function globalHelp(): string {
  return [
    'campaigns: the command line of the CSV campaign API.',
    '',
    'usage: campaigns <command> [options]      (npx campaigns …, npm run cli -- …, node cli/campaigns.ts …)',
    '',
    'commands:',
    ...Object.values(commands).flatMap((c) => [`  ${c.usage}`, `      ${c.summary}`]),
    '  help [command]',
    '',
    'connection (every command but app create):',
    `  --endpoint <url>    the API (env CAMPAIGNS_ENDPOINT; default ${LOCAL_DEFAULTS.endpoint}, where npm start listens)`,
    `  --app-id <id>       env CAMPAIGNS_APP_ID; default ${LOCAL_DEFAULTS.appId} (the app npm start seeds)`,
    `  --api-key <key>     env CAMPAIGNS_API_KEY; default ${LOCAL_DEFAULTS.apiKey}`,
    '  --json              machine-readable JSON on stdout, no progress bars',
    '',
    'Exit codes: 0 done; 1 the API answered an error, an import failed, csv check found problems, or',
    '  destination test got no 2xx from the webhook; 2 usage.',
    'More: campaigns help <command>, and docs/cli.md.',
  ].join('\n');
}

function commandHelp(name: string): string {
  const c = commands[name] as Command;
  return [
    `usage: campaigns ${c.usage}`,
    '',
    c.summary,
    ...(c.details ? ['', c.details] : []),
    '',
    'options:',
    ...Object.entries(c.options ?? {}).map(([o, text]) => `  ${o.padEnd(26)} ${text}`),
    '  --json                     print JSON on stdout',
    ...(name === 'app create' ? [] : ['  --endpoint, --app-id, --api-key   see campaigns help']),
    '',
    'example:',
    `  ${c.example}`,
  ].join('\n');
}

/** `help`, `help template`, `help campaign send`, … */
function helpFor(words: string[]): string {
  const name = words.join(' ');
  if (words.length === 0) return globalHelp();
  if (commands[name]) return commandHelp(name);
  const group = Object.keys(commands).filter((k) => k.split(' ')[0] === words[0]);
  if (group.length > 0) return group.map(commandHelp).join('\n\n');
  throw new UsageError(`Unknown command '${name}'. Run campaigns help.`);
}

export async function main(argv: string[]): Promise<number> {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: optionSpecs, allowPositionals: true, strict: true }) as never;
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\nRun campaigns help.\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const json = values.json === true;
  try {
    if (positionals.length === 0 || positionals[0] === 'help') {
      process.stdout.write(`${helpFor(positionals.slice(1))}\n`);
      return 0;
    }
    // A group's subcommand, or a two-word command such as `recipients export`.
    const words =
      GROUPS.includes(positionals[0] as string) || commands[positionals.slice(0, 2).join(' ')]
        ? positionals.slice(0, 2)
        : positionals.slice(0, 1);
    const name = words.join(' ');
    const command = commands[name];
    if (!command) {
      if (values.help) {
        process.stdout.write(`${helpFor(words)}\n`);
        return 0;
      }
      throw new UsageError(
        GROUPS.includes(words[0] as string) && words.length === 1
          ? `'${name}' needs a subcommand:\n${helpFor(words)}`
          : `Unknown command '${name}'. Run campaigns help.`,
      );
    }
    if (values.help) {
      process.stdout.write(`${commandHelp(name)}\n`);
      return 0;
    }
    const args = positionals.slice(words.length);
    if (args.length !== command.positionals) {
      throw new UsageError(`usage: campaigns ${command.usage}`);
    }
    const allowed = new Set([
      ...GLOBAL,
      ...Object.keys(command.options ?? {}).map((o) => o.slice(2).split(' ')[0]),
    ]);
    const extra = Object.keys(values).filter((k) => !allowed.has(k));
    if (extra.length > 0) {
      throw new UsageError(
        `${name} takes no ${extra.map((k) => `--${k}`).join(', ')}. Run campaigns help ${name}.`,
      );
    }
    const connection: Connection = {
      endpoint: values.endpoint ?? process.env.CAMPAIGNS_ENDPOINT ?? LOCAL_DEFAULTS.endpoint,
      appId: values['app-id'] ?? process.env.CAMPAIGNS_APP_ID ?? LOCAL_DEFAULTS.appId,
      apiKey: values['api-key'] ?? process.env.CAMPAIGNS_API_KEY ?? LOCAL_DEFAULTS.apiKey,
    };
    let client: ApiClient | undefined;
    return await command.run({
      args,
      values,
      json,
      api: () => {
        client ??= new ApiClient(connection);
        return client;
      },
    });
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\n`);
      return 2;
    }
    if (error instanceof ApiError) {
      if (json) {
        process.stdout.write(
          `${JSON.stringify({ error: { status: error.status, code: error.code, message: error.message, details: error.details } }, null, 2)}\n`,
        );
      }
      const requestId = (error.details as { requestId?: unknown } | undefined)?.requestId;
      process.stderr.write(
        `error: ${error.code === 'ERR_UNREACHABLE' ? '' : `${error.code}: `}${visible(error.message)}${
          typeof requestId === 'string' ? ` (requestId ${requestId})` : ''
        }\n`,
      );
      return 1;
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES') {
      process.stderr.write(`error: ${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
