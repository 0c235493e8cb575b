/**
 * The `campaigns` CLI and `npm run demo`, end to end: each command runs as a child process
 * (`node cli/campaigns.ts … --json`) against a local runtime, and what it prints and its
 * exit code are what a user sees.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecipientsStore } from '#shared/store/recipients.ts';
import { hostileCorpus } from '#test/support/hostile-corpus.ts';
import { apiClient, type Credentials, newApp, useRuntime } from '#test/support/runtime.ts';
import {
  audienceCsv,
  audienceSchema,
  draftCampaign,
  postUpload,
  settledUpload,
  uploadForm,
} from '#test/support/uploads.ts';
import {
  type ReceivedRequest,
  startWebhookReceiver,
  verifies,
  type WebhookReceiver,
} from '#test/support/webhook-receiver.ts';

/** The API's direct-upload limit here: files above it take the presigned path. */
const DIRECT_MAX = 4096;
const runtime = useRuntime({ env: { DIRECT_UPLOAD_MAX_BYTES: String(DIRECT_MAX) } });

const CLI = new URL('../../cli/campaigns.ts', import.meta.url).pathname;
const DEMO = new URL('../../cli/demo.ts', import.meta.url).pathname;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** The parsed --json output. */
  json: any;
}

function run(script: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [script, ...args],
      { cwd: dir, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        let json: unknown;
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr, json });
      },
    );
  });
}

/** `campaigns <args> --json` as `credentials` against the runtime. */
function cli(credentials: Credentials, ...args: string[]): Promise<Run> {
  return run(CLI, [
    ...args,
    '--endpoint',
    runtime.current.url,
    '--app-id',
    credentials.appId,
    '--api-key',
    credentials.apiKey,
    '--json',
  ]);
}

/** `campaigns <args>` as `credentials`, without --json: what a person reads. */
function cliText(credentials: Credentials, ...args: string[]): Promise<Run> {
  return run(CLI, [
    ...args,
    '--endpoint',
    runtime.current.url,
    '--app-id',
    credentials.appId,
    '--api-key',
    credentials.apiKey,
  ]);
}

const SCHEMA = JSON.stringify(audienceSchema);

/** An approved template (through the CLI) and a draft campaign on it. */
async function approvedTemplate(creds: Credentials): Promise<string> {
  const created = await cli(
    creds,
    'template',
    'create',
    '--name',
    'cli',
    '--body',
    'Hi {{name}}, {{discount}} off (vip {{vip}})',
    '--schema',
    SCHEMA,
  );
  expect(created.code, created.stderr).toBe(0);
  const approved = await cli(creds, 'template', 'approve', created.json.id);
  expect(approved.code, approved.stderr).toBe(0);
  return created.json.id;
}

async function draft(creds: Credentials, templateId: string, name = 'cli campaign'): Promise<string> {
  const created = await cli(creds, 'campaign', 'create', '--name', name, '--template', templateId);
  expect(created.code, created.stderr).toBe(0);
  return created.json.id;
}

describe('campaigns CLI', () => {
  it('creates, approves and lists templates, and creates, gets and lists campaigns', async () => {
    const creds = await newApp('cli');
    const created = await cli(
      creds,
      'template',
      'create',
      '--name',
      'Welcome',
      '--title',
      'Hello {{name}}',
      '--body',
      'Hi {{name}}',
      '--schema',
      SCHEMA,
    );
    expect(created.code, created.stderr).toBe(0);
    expect(created.json).toMatchObject({ name: 'Welcome', status: 'draft', variableSchema: audienceSchema });

    // A campaign needs an approved template: the API's message comes through, exit code 1.
    const early = await cli(creds, 'campaign', 'create', '--name', 'x', '--template', created.json.id);
    expect(early.code).toBe(1);
    expect(early.json.error.code).toBe('ERR_TEMPLATE_NOT_APPROVED');
    expect(early.stderr).toContain(early.json.error.message);

    const approved = await cli(creds, 'template', 'approve', created.json.id);
    expect(approved.json).toMatchObject({ id: created.json.id, status: 'approved' });
    const listed = await cli(creds, 'template', 'list');
    expect(listed.json.map((t: { id: string; status: string }) => [t.id, t.status])).toEqual([
      [created.json.id, 'approved'],
    ]);

    const campaign = await cli(
      creds,
      'campaign',
      'create',
      '--name',
      'Spring',
      '--template',
      created.json.id,
      '--tag',
      'promo',
    );
    expect(campaign.json).toMatchObject({ name: 'Spring', tag: 'promo', status: 'draft' });
    const got = await cli(creds, 'campaign', 'get', campaign.json.id);
    expect(got.json).toMatchObject({ id: campaign.json.id, status: 'draft', recipientCount: 0 });
    const drafts = await cli(creds, 'campaign', 'list', '--status', 'draft');
    expect(drafts.json.map((c: { id: string }) => c.id)).toEqual([campaign.json.id]);
    const sending = await cli(creds, 'campaign', 'list', '--status', 'sending');
    expect(sending.json).toEqual([]);

    // Human output (no --json): the template's id and status on the first line.
    const human = await run(CLI, [
      'template',
      'get',
      created.json.id,
      '--endpoint',
      runtime.current.url,
      '--app-id',
      creds.appId,
      '--api-key',
      creds.apiKey,
    ]);
    expect(human.stdout.split('\n')[0]).toBe(`template ${created.json.id}  approved`);
  });

  it('uploads a small file directly with a rejection, saves the report, sends, and lists sent and failed recipients', async () => {
    const creds = await newApp('cli');
    const campaignId = await draft(creds, await approvedTemplate(creds));
    const file = join(dir, 'small.csv');
    await writeFile(
      file,
      'user_id,name,discount,vip\nada,Ada,10,true\nbob,Bob,abc,false\nada,Again,1,true\ncy,Cy,,\n',
    );
    const report = join(dir, 'small-rejections.csv');

    const uploaded = await cli(creds, 'upload', file, '--campaign', campaignId, '--report', report);
    expect(uploaded.code, uploaded.stderr).toBe(0);
    expect(uploaded.json).toMatchObject({
      path: 'direct',
      status: 'completed',
      rowsRead: 4,
      imported: 2,
      rejected: 1,
      duplicates: 1,
      recipientCount: 2,
      rejectionsReport: report,
      rejections: [{ row: 3, userId: 'bob', reason: "discount: expected a number, got 'abc'" }],
    });
    expect(await readFile(report, 'utf8')).toBe(
      `row,user_id,reason\r\n3,bob,"discount: expected a number, got 'abc'"\r\n`,
    );

    const pending = await cli(creds, 'recipients', campaignId, '--status', 'pending');
    expect(pending.json.map((r: { userId: string }) => r.userId).sort()).toEqual(['ada', 'cy']);

    const sent = await cli(creds, 'campaign', 'send', campaignId);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.json).toMatchObject({ id: campaignId, status: 'sending' });
    const again = await cli(creds, 'campaign', 'send', campaignId);
    expect(again.code).toBe(1);
    expect(again.json.error.code).toBe('ERR_CONFLICT');

    // cy has no vip and the body uses {{vip}} (no default): its message cannot be rendered.
    await expect
      .poll(async () => (await cli(creds, 'campaign', 'get', campaignId)).json.status, { timeout: 60_000 })
      .toBe('partially_failed');
    const delivered = await cli(creds, 'recipients', campaignId, '--status', 'sent');
    expect(delivered.json.map((r: { userId: string }) => r.userId)).toEqual(['ada']);
    const failed = await cli(creds, 'recipients', campaignId, '--status', 'failed');
    expect(failed.json).toEqual([
      expect.objectContaining({ userId: 'cy', status: 'failed', error: expect.stringContaining('vip') }),
    ]);

    const late = await cli(creds, 'campaign', 'cancel', campaignId);
    expect(late.code).toBe(1);
    expect(late.stderr).toContain('ERR_CONFLICT');
  });

  it('prints the cells of a file with control characters escaped, never as terminal sequences', async () => {
    const creds = await newApp('cli');
    const campaignId = await draft(creds, await approvedTemplate(creds));
    const file = join(dir, 'escapes.csv');
    // A discount that is not a number, quoting a cell that would clear the screen and retitle the terminal.
    await writeFile(file, 'user_id,name,discount,vip\nada,Ada,"\u001b[2J\u001b]0;owned\u0007",true\n');
    const human = await cliText(creds, 'upload', file, '--campaign', campaignId);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain('row 2');
    expect(human.stdout).toContain('\\u001b[2J');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: no control character may be printed
    expect(human.stdout + human.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  });

  it('uploads a file over the direct limit by presigned PUT, shows progress without --json, and pages all recipients', async () => {
    const creds = await newApp('cli');
    const campaignId = await draft(creds, await approvedTemplate(creds));
    const rows = 250;
    const csv = audienceCsv(rows).replace('u000007,Name 7,7,', 'u000007,Name 7,lots,');
    expect(Buffer.byteLength(csv)).toBeGreaterThan(DIRECT_MAX);
    const file = join(dir, 'large.csv');
    await writeFile(file, csv);

    // Without --json: the bars go to stderr (plain lines, not a terminal), the summary to stdout.
    const human = await run(CLI, [
      'upload',
      file,
      '--campaign',
      campaignId,
      '--endpoint',
      runtime.current.url,
      '--app-id',
      creds.appId,
      '--api-key',
      creds.apiKey,
    ]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stderr).toMatch(/upload +\[#+\] 100% .*presigned PUT to S3|upload +\[#+\] 100% .* sent/);
    expect(human.stderr).toMatch(/import +\[#+\] 100% +250 \/ 250 .*completed/);
    expect(human.stdout).toMatch(/^upload upl_\S+ \(presigned, .*\): completed$/m);
    expect(human.stdout).toMatch(/imported +249$/m);
    expect(human.stdout).toMatch(/rejected +1$/m);
    const reportPath = /rejections report: (.+)$/m.exec(human.stdout)?.[1] as string;
    expect(await readFile(reportPath, 'utf8')).toContain(
      '8,u000007,"discount: expected a number, got \'lots\'"',
    );

    // 249 recipients: three pages of 100.
    const all = await cli(creds, 'recipients', campaignId);
    expect(all.json).toHaveLength(249);
    expect(new Set(all.json.map((r: { userId: string }) => r.userId)).size).toBe(249);
  });

  it('schedules a send with --at and cancels it', async () => {
    const creds = await newApp('cli');
    const campaignId = await draft(creds, await approvedTemplate(creds));
    const file = join(dir, 'one.csv');
    await writeFile(file, 'user_id,name\nada,Ada\n');
    expect((await cli(creds, 'upload', file, '--campaign', campaignId)).code).toBe(0);

    const past = await cli(creds, 'campaign', 'send', campaignId, '--at', '2001-01-01T00:00:00Z');
    expect(past.code).toBe(1);
    expect(past.json.error).toMatchObject({ code: 'ERR_BAD_REQUEST', status: 400 });
    expect(past.stderr).toContain('scheduledAt must be in the future');

    const at = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await cli(creds, 'campaign', 'send', campaignId, '--at', at);
    expect(scheduled.json).toMatchObject({ status: 'scheduled', scheduledAt: at });
    const cancelled = await cli(creds, 'campaign', 'cancel', campaignId);
    expect(cancelled.json).toMatchObject({ id: campaignId, status: 'cancelled' });
  });

  it('follow-up copies the failed recipients of a finished campaign, with progress, and refuses sent', async () => {
    const creds = await newApp('cli');
    const campaignId = await draft(creds, await approvedTemplate(creds), 'spring');
    // A finished campaign as delivery leaves it: ada sent, bob and cy failed.
    const { projectOutcomes } = createRecipientsStore(runtime.current.table);
    await projectOutcomes(creds.appId, campaignId, 'chunk-cli', [
      { userId: 'ada', variables: { name: 'Ada', discount: 5 }, status: 'sent' },
      { userId: 'bob', variables: { name: 'Bob', discount: 10 }, status: 'failed', error: 'no device' },
      { userId: 'cy', variables: { name: 'Cy', discount: 15 }, status: 'failed', error: 'no device' },
    ]);
    const { client: documents, tableName } = runtime.current.table;
    await documents.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: `APP#${creds.appId}`, sk: `CAMPAIGN#${campaignId}` },
        UpdateExpression: 'SET #status = :s, gsi1pk = :g, recipientCount = :n, counts = :c',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':s': 'partially_failed',
          ':g': `APP#${creds.appId}#CAMPAIGNS#partially_failed`,
          ':n': 3,
          ':c': { pending: 0, queued: 0, sent: 1, failed: 2, skipped: 0 },
        },
      }),
    );

    const human = await cliText(creds, 'campaign', 'follow-up', campaignId, '--statuses', 'failed');
    expect(human.code, human.stderr).toBe(0);
    expect(human.stderr).toMatch(/copying .*100%\s+2 \/ 2 .*copied/);
    expect(human.stdout).toMatch(/^campaign cmp_\S+ {2}draft$/m);
    expect(human.stdout).toContain('name        spring (follow-up)');
    expect(human.stdout).toContain(`follow-up   of ${campaignId} (failed)`);
    expect(human.stdout).toContain('recipients  2');

    const json = await cli(
      creds,
      'campaign',
      'follow-up',
      campaignId,
      '--statuses',
      'failed',
      '--name',
      'again',
    );
    expect(json.code, json.stderr).toBe(0);
    expect(json.json).toMatchObject({
      name: 'again',
      status: 'draft',
      followUpOf: campaignId,
      copying: false,
      recipientCount: 2,
    });
    const recipients = await cli(creds, 'recipients', json.json.id);
    expect(
      recipients.json.map((r: { userId: string; variables: unknown }) => [r.userId, r.variables]).sort(),
    ).toEqual([
      ['bob', { name: 'Bob', discount: 10 }],
      ['cy', { name: 'Cy', discount: 15 }],
    ]);

    const sent = await cli(creds, 'campaign', 'follow-up', campaignId, '--statuses', 'failed,sent');
    expect(sent.code).toBe(1);
    expect(sent.json.error.message).toMatch(/'sent' recipients were delivered and are never in a follow-up/);
  });

  it('exits non-zero with the API message for a wrong key or an unknown campaign, and 2 for a wrong command line', async () => {
    const creds = await newApp('cli');
    const wrongKey = await cli({ ...creds, apiKey: 'not-the-key' }, 'campaign', 'list');
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.json.error).toMatchObject({ status: 401, code: 'ERR_UNAUTHORIZED' });
    expect(wrongKey.stderr).toContain(`error: ERR_UNAUTHORIZED: ${wrongKey.json.error.message}`);

    const unknown = await cli(creds, 'campaign', 'get', 'cmp_nope');
    expect(unknown.code).toBe(1);
    expect(unknown.json.error).toEqual({
      status: 404,
      code: 'ERR_NOT_FOUND',
      message: "Campaign 'cmp_nope' was not found.",
      details: { campaignId: 'cmp_nope' },
    });
    const upload = await cli(creds, 'upload', join(dir, 'one.csv'), '--campaign', 'cmp_nope');
    expect(upload.code).toBe(1);
    expect(upload.stderr).toContain("Campaign 'cmp_nope' was not found.");

    const usage = await cli(creds, 'campaign', 'create', '--name', 'no template');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('campaign create needs --template');
    const unknownCommand = await cli(creds, 'campaign', 'launch');
    expect(unknownCommand.code).toBe(2);

    const down = await run(CLI, ['campaign', 'list', '--endpoint', 'http://127.0.0.1:9']);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('Cannot reach the API at http://127.0.0.1:9');
  });

  it('prints help for a command', async () => {
    const help = await run(CLI, ['help', 'upload']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: campaigns upload <file.csv> --campaign <campaignId>');
    const group = await run(CLI, ['campaign', '--help']);
    expect(group.stdout).toContain('usage: campaigns campaign send <campaignId> [--at <ISO time>]');
  });

  it('app create adds an app whose printed key works', async () => {
    const env = runtime.current.aws.env;
    const appId = `cli-made-${Math.random().toString(36).slice(2, 8)}`;
    const made = await run(CLI, [
      'app',
      'create',
      appId,
      '--table',
      env.TABLE_NAME as string,
      '--dynamodb-endpoint',
      env.AWS_ENDPOINT_URL_DYNAMODB as string,
      '--json',
    ]);
    expect(made.code, made.stderr).toBe(0);
    expect(made.json.appId).toBe(appId);
    const listed = await cli({ appId, apiKey: made.json.apiKey }, 'template', 'list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.json).toEqual([]);
  });
});

describe('campaigns destination', () => {
  const receivers: WebhookReceiver[] = [];
  async function receiver(): Promise<WebhookReceiver> {
    const started = await startWebhookReceiver();
    receivers.push(started);
    return started;
  }
  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.close()));
  });

  /** The secret a human-readable answer printed, on a line of its own. */
  const printedSecret = (stdout: string) => /^ {2}(whsec_\S+)$/m.exec(stdout)?.[1];

  it('sets a loopback webhook: the secret is printed once, then get and later sets show only its hint', async () => {
    const creds = await newApp('dst');
    const before = await cli(creds, 'destination', 'get');
    expect(before.code, before.stderr).toBe(0);
    expect(before.json).toEqual({ kind: 'default', batchSize: 100, ratePerSecond: null, updatedAt: null });
    const hook = await receiver();

    const set = await cliText(
      creds,
      'destination',
      'set',
      '--url',
      hook.url,
      '--batch-size',
      '50',
      '--rate',
      '20',
    );
    expect(set.code, set.stderr).toBe(0);
    const secret = printedSecret(set.stdout) as string;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/=]{40,}$/);
    expect(set.stdout).toMatch(/^destination webhook$/m);
    expect(set.stdout).toContain(`url         ${hook.url}`);
    expect(set.stdout).toMatch(/batch size +50 recipients a request/);
    expect(set.stdout).toMatch(/rate +20 recipients a second/);
    expect(set.stdout).toContain('It is shown only this once');
    expect(set.stdout).toContain('Standard Webhooks');
    expect(set.stdout).toContain("import { Webhook } from 'standardwebhooks'");

    // From now on only its last 4 characters, in text and in JSON.
    const hint = secret.slice(-4);
    const got = await cliText(creds, 'destination', 'get');
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toContain(`whsec_…${hint}`);
    expect(got.stdout).not.toContain(secret);
    expect(got.stdout).not.toContain('shown only this once');
    const gotJson = await cli(creds, 'destination', 'get');
    expect(gotJson.json).toMatchObject({
      kind: 'webhook',
      url: hook.url,
      batchSize: 50,
      ratePerSecond: 20,
      secretHint: hint,
    });
    expect(gotJson.json.signingSecret).toBeUndefined();

    // A later set keeps the secret and does not print it; options left out take their defaults.
    const again = await cli(creds, 'destination', 'set', '--url', hook.url, '--no-rate');
    expect(again.code, again.stderr).toBe(0);
    expect(again.json).toMatchObject({
      kind: 'webhook',
      url: hook.url,
      batchSize: 100,
      ratePerSecond: null,
      secretHint: hint,
    });
    expect(again.json.signingSecret).toBeUndefined();
    expect(again.stdout + again.stderr).not.toContain(secret);

    // The test event reaches the receiver, signed with that secret.
    const tested = await cliText(creds, 'destination', 'test');
    expect(tested.code, tested.stderr).toBe(0);
    expect(tested.stdout).toMatch(/^test event: ok$/m);
    expect(tested.stdout).toMatch(/^ {2}status +204$/m);
    expect(tested.stdout).toMatch(/^ {2}latency +\d[\d,]* ms$/m);
    expect(hook.requests).toHaveLength(1);
    expect(hook.requests[0]?.json).toMatchObject({ type: 'test', appId: creds.appId });
    expect(verifies(hook.requests[0] as ReceivedRequest, secret)).toBe(true);

    // Back to the deployment's default.
    const back = await cliText(creds, 'destination', 'set', '--default');
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toMatch(/^destination default/);
    expect((await cli(creds, 'destination', 'get')).json).toMatchObject({ kind: 'default' });
    const noHook = await cli(creds, 'destination', 'test');
    expect(noHook.code).toBe(1);
    expect(noHook.json.error).toMatchObject({ status: 409, code: 'ERR_CONFLICT' });
  });

  it('test exits 1 with the status and the error when the webhook fails or cannot be reached', async () => {
    const creds = await newApp('dst');
    const hook = await receiver();
    expect((await cli(creds, 'destination', 'set', '--url', hook.url)).code).toBe(0);

    hook.answer(() => ({ status: 503 }));
    const refused = await cliText(creds, 'destination', 'test');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^test event: failed$/m);
    expect(refused.stdout).toMatch(/^ {2}status +503$/m);
    expect(refused.stderr).toContain('error: the webhook answered HTTP 503');

    // A closed port: no answer at all.
    await hook.close();
    const down = await cliText(creds, 'destination', 'test');
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/^test event: failed$/m);
    expect(down.stdout).toMatch(/^ {2}status +no answer$/m);
    expect(down.stdout).toMatch(/^ {2}latency +\d[\d,]* ms$/m);
    expect(down.stdout).toMatch(/^ {2}error +.*(ECONNREFUSED|refused)/im);
    expect(down.stderr).toMatch(/^error: the webhook did not answer: .+$/m);
    const downJson = await cli(creds, 'destination', 'test');
    expect(downJson.code).toBe(1);
    expect(downJson.json).toMatchObject({ status: null, ok: false, latencyMs: expect.any(Number) });
    expect(downJson.json.error).toMatch(/ECONNREFUSED|refused/i);
  });

  it('rotate-secret prints a new secret once; deliveries then verify with the new and the previous one', async () => {
    const creds = await newApp('dst');
    const early = await cli(creds, 'destination', 'rotate-secret');
    expect(early.code).toBe(1);
    expect(early.json.error).toMatchObject({ status: 409, code: 'ERR_CONFLICT' });
    expect(early.stderr).toContain('error: ERR_CONFLICT: ');

    const hook = await receiver();
    const set = await cli(creds, 'destination', 'set', '--url', hook.url);
    const first: string = set.json.signingSecret;
    expect(first).toMatch(/^whsec_/);
    expect(set.stderr).toContain('shown only this once');

    const rotated = await cliText(creds, 'destination', 'rotate-secret');
    expect(rotated.code, rotated.stderr).toBe(0);
    const second = printedSecret(rotated.stdout) as string;
    expect(second).toMatch(/^whsec_/);
    expect(second).not.toBe(first);
    expect(rotated.stdout).toContain('It is shown only this once');
    expect(rotated.stdout).toContain('For the next 24 hours');
    expect(rotated.stdout).toContain('standardwebhooks');
    expect((await cli(creds, 'destination', 'get')).json.secretHint).toBe(second.slice(-4));

    const third = await cli(creds, 'destination', 'rotate-secret');
    expect(third.code, third.stderr).toBe(0);
    expect(Object.keys(third.json)).toEqual(['signingSecret']);
    expect([first, second]).not.toContain(third.json.signingSecret);

    expect((await cli(creds, 'destination', 'test')).json).toMatchObject({ ok: true, status: 204 });
    const event = hook.requests.at(-1) as ReceivedRequest;
    expect(verifies(event, third.json.signingSecret)).toBe(true);
    expect(verifies(event, second)).toBe(true);
  });

  it("refuses a bad URL with the API's rule, and a wrong command line with exit code 2", async () => {
    const creds = await newApp('dst');
    const ftp = await cli(creds, 'destination', 'set', '--url', 'ftp://127.0.0.1/hook');
    expect(ftp.code).toBe(1);
    expect(ftp.json.error).toMatchObject({ status: 400, code: 'ERR_BAD_REQUEST', details: { field: 'url' } });
    expect(ftp.stderr).toContain(`error: ERR_BAD_REQUEST: ${ftp.json.error.message}`);
    const big = await cli(
      creds,
      'destination',
      'set',
      '--url',
      'http://127.0.0.1:9/hook',
      '--batch-size',
      '101',
    );
    expect(big.code).toBe(1);
    expect(big.json.error).toMatchObject({ status: 400, code: 'ERR_BAD_REQUEST' });
    expect(big.json.error.message).toContain('batchSize');
    expect((await cli(creds, 'destination', 'get')).json.kind).toBe('default');

    for (const [args, message] of [
      [[], 'destination set needs --url <url>, or --default'],
      [['--default', '--url', 'http://127.0.0.1:9/'], 'destination set --default takes no --url'],
      [['--url', 'http://127.0.0.1:9/', '--rate', '5', '--no-rate'], 'takes --rate or --no-rate, not both'],
      [['--url', 'http://127.0.0.1:9/', '--rate', 'fast'], "--rate must be a number, got 'fast'"],
      [
        ['--url', 'http://127.0.0.1:9/', '--batch-size', '2.5'],
        "--batch-size must be a whole number, got '2.5'",
      ],
    ] as const) {
      const usage = await cli(creds, 'destination', 'set', ...args);
      expect(usage.code, args.join(' ')).toBe(2);
      expect(usage.stderr).toContain(message);
    }
    expect((await cli(creds, 'destination', 'test', '--url', 'x')).code).toBe(2);

    const help = await run(CLI, ['help', 'destination']);
    expect(help.code).toBe(0);
    for (const usage of [
      'usage: campaigns destination get',
      'usage: campaigns destination set (--url <url> [--batch-size <n>] [--rate <n> | --no-rate] | --default)',
      'usage: campaigns destination rotate-secret',
      'usage: campaigns destination test',
    ]) {
      expect(help.stdout).toContain(usage);
    }
  });
});

/** A bad file in the shape of test/support/hostile-corpus.ts. */
interface BadFile {
  name: string;
  fileName: string;
  bytes(): Buffer;
  expect: { fileError: boolean };
}

const text = (s: string) => () => Buffer.from(s, 'utf8');
const badFiles: BadFile[] = [
  {
    name: 'every kind of rejected row, duplicates, blank lines, quotes, BOM and CRLF',
    fileName: 'rows.csv',
    bytes: () =>
      Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from(
          [
            'user_id,name,discount,vip',
            'ok1,Ada,1,true',
            'bad id!,Bob,2,false',
            ',Nobody,3,true',
            'num,Carl,abc,true',
            'bool,Dan,4,maybe',
            'long,ThisNameIsWayOverTwentyChars,5,true',
            'noname,,6,true',
            'short,Eve',
            'extra,Fay,7,true,more',
            '',
            'ok1,Dup,8,false',
            '"q1","Multi',
            'line",9,TRUE',
            `${'x'.repeat(101)},Long id,1,true`,
            '=cmd,Formula,1,true',
            'ok2,"Quote ""inside""",-1.5e2,False',
          ].join('\r\n'),
        ),
      ]),
    expect: { fileError: false },
  },
  {
    name: 'a column that is not in the schema',
    fileName: 'unknown-column.csv',
    bytes: text('user_id,name,colour\nu1,Ada,red\n'),
    expect: { fileError: true },
  },
  {
    name: 'no user_id column',
    fileName: 'no-user-id.csv',
    bytes: text('id,name\nu1,Ada\n'),
    expect: { fileError: true },
  },
  {
    name: 'semicolon delimiter',
    fileName: 'semicolons.csv',
    bytes: text('user_id;name\nu1;Ada\n'),
    expect: { fileError: true },
  },
  {
    name: 'UTF-16 LE',
    fileName: 'utf16.csv',
    bytes: () => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('user_id,name\nu1,Ada\n', 'utf16le')]),
    expect: { fileError: true },
  },
  {
    name: 'Windows-1252 byte in a row',
    fileName: 'latin1.csv',
    bytes: () => Buffer.from('user_id,name\nu1,Ren\xe9\n', 'latin1'),
    expect: { fileError: true },
  },
  {
    name: 'a quote that is never closed',
    fileName: 'unclosed.csv',
    bytes: text('user_id,name\nu1,"Ada\nu2,Bob\n'),
    expect: { fileError: true },
  },
  {
    name: 'a stray quote inside an unquoted field',
    fileName: 'stray-quote.csv',
    bytes: text('user_id,name\nu1,5\'11"\nu2,Bob\nu3,"x"\n'),
    expect: { fileError: true },
  },
  {
    name: 'header only',
    fileName: 'header-only.csv',
    bytes: text('user_id,name\n'),
    expect: { fileError: false },
  },
];

/** The reliability suite's hostile corpus, in the same shape. */
const corpus: BadFile[] = hostileCorpus().map((c) => ({
  name: `hostile corpus: ${c.name}`,
  fileName: c.fileName,
  bytes: () => c.bytes(),
  expect: { fileError: c.expect.kind === 'file-error' },
}));

describe('csv check agrees with the importer', () => {
  it.each([...badFiles, ...corpus])('$name', async (bad) => {
    const creds = await newApp('chk');
    const api = apiClient(runtime.current.url, creds);
    const campaignId = await draftCampaign(api, audienceSchema);
    const templateId = (await api.get(`/api/campaigns/${campaignId}`)).body.data.templateId as string;
    const bytes = bad.bytes();
    const file = join(dir, bad.fileName);
    await writeFile(file, bytes);

    const check = await cli(creds, 'csv', 'check', file, '--template', templateId);
    if (bytes.length === 0) {
      // A presigned URL is for 1 byte or more: the empty file goes the direct way only.
      const direct = await postUpload(api, uploadForm(campaignId, bytes));
      expect(direct.status).toBe(400);
      expect(check.code).toBe(1);
      expect(check.json).toMatchObject({ ok: false, error: { message: direct.body.error.message } });
      return;
    }

    // The importer: the file PUT to a presigned URL (no check before it reaches the importer).
    const grant = await api.post(`/api/campaigns/${campaignId}/upload-url`, { contentLength: bytes.length });
    expect(grant.status).toBe(201);
    const put = await fetch(grant.body.data.url, {
      method: 'PUT',
      headers: grant.body.data.headers,
      body: bytes,
    });
    expect(put.status).toBe(200);
    const imported = await settledUpload(api, campaignId, grant.body.data.uploadId);

    expect(check.json.error !== undefined, check.stdout).toBe(bad.expect.fileError);
    if (imported.status === 'failed') {
      expect(check.code).toBe(1);
      expect(check.json).toMatchObject({ ok: false, error: imported.error });
    } else {
      expect(check.json).toMatchObject({
        rowsRead: imported.rowsRead,
        valid: imported.uploaded,
        rejected: imported.rejected,
        duplicates: imported.duplicates,
      });
      expect(check.json.rejections).toEqual(imported.rejections);
      expect(check.code).toBe(imported.rejected > 0 ? 1 : 0);
    }
    expect(imported.status).toBe(bad.expect.fileError ? 'failed' : 'completed');

    // The direct upload (its header check before storing, then the same import) agrees too.
    // (The limit counts the whole multipart body, framing included.)
    if (bytes.length > DIRECT_MAX - 1024) return;
    const direct = await postUpload(api, uploadForm(campaignId, bytes));
    if (bad.expect.fileError) {
      expect(direct.status).toBe(400);
      expect(direct.body.error.message).toBe(check.json.error.message);
    } else {
      expect(direct.status).toBe(200);
      expect(direct.body.data).toMatchObject({
        uploaded: check.json.valid,
        rejected: check.json.rejected,
        duplicates: check.json.duplicates,
      });
    }
  });
});

describe('csv check --remote: the API dry run', () => {
  it.each([
    ['direct', 3],
    // Over this runtime's 4 KiB direct limit: the presigned dry run.
    ['presigned', 200],
  ] as const)(
    "%s: the local check's counts and rejections, plus detected and a preview; nothing added",
    async (path, rows) => {
      const creds = await newApp('chkr');
      const api = apiClient(runtime.current.url, creds);
      const campaignId = await draftCampaign(api, audienceSchema);
      const templateId = (await api.get(`/api/campaigns/${campaignId}`)).body.data.templateId as string;
      const csv = `${audienceCsv(rows).replace('\n', '\nbad id,Bad,1,true\n').replaceAll('\n', '\r\n')}`;
      const file = join(dir, `remote-${path}.csv`);
      await writeFile(file, csv);

      const local = await cli(creds, 'csv', 'check', file, '--template', templateId);
      const remote = await cli(creds, 'csv', 'check', file, '--remote', '--campaign', campaignId);
      expect(remote.code, remote.stderr).toBe(1);
      expect(remote.code).toBe(local.code);
      expect(remote.json).toMatchObject({
        file,
        campaignId,
        path,
        ok: false,
        rowsRead: local.json.rowsRead,
        valid: rows,
        rejected: 1,
        duplicates: local.json.duplicates,
        rejections: local.json.rejections,
        detected: { encoding: 'UTF-8', bom: false, lineEndings: 'CRLF', delimiter: ',', rows: rows + 1 },
      });
      expect(remote.json.preview.map((p: { userId: string }) => p.userId)).toEqual(
        ['u000001', 'u000002', 'u000003', 'u000004', 'u000005'].slice(0, Math.min(rows, 5)),
      );
      expect(remote.json.preview[0].rendered).toEqual({ body: 'Name 1 1 false' });
      // Nothing was added: the campaign is as it was, and takes a real upload at once.
      expect((await api.get(`/api/campaigns/${campaignId}`)).body.data).toMatchObject({
        status: 'draft',
        recipientCount: 0,
      });
      expect((await api.get(`/api/campaigns/${campaignId}/recipients`)).body.data).toEqual([]);
      const text = await cliText(creds, 'csv', 'check', file, '--remote', '--campaign', campaignId);
      expect(text.stdout).toContain(`${rows + 1} rows, ${rows} valid, 1 rejected, 0 duplicates`);
      expect(text.stdout).toContain("detected: UTF-8, CRLF line endings, ',' delimiter");
      expect(text.stdout).toContain('u000001');
      expect(text.stdout).toContain('Name 1 1 false');
      const upload = await cli(creds, 'upload', file, '--campaign', campaignId);
      expect(upload.code, upload.stderr).toBe(0);
      expect(upload.json).toMatchObject({ imported: rows, rejected: 1, recipientCount: rows });
    },
  );

  it('answers a file-level error as the upload would, and asks for --campaign', async () => {
    const creds = await newApp('chkr');
    const api = apiClient(runtime.current.url, creds);
    const campaignId = await draftCampaign(api, audienceSchema);
    const file = join(dir, 'remote-semicolons.csv');
    await writeFile(file, 'user_id;name\nu1;Ada\n');
    const remote = await cli(creds, 'csv', 'check', file, '--remote', '--campaign', campaignId);
    expect(remote.code).toBe(1);
    expect(remote.json).toMatchObject({ ok: false, error: { message: expect.stringContaining("';'") } });
    const direct = await postUpload(api, uploadForm(campaignId, 'user_id;name\nu1;Ada\n'));
    expect(remote.json.error.message).toBe(direct.body.error.message);
    const usage = await cli(creds, 'csv', 'check', file, '--remote');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--campaign');
  });
});

describe('npm run demo', () => {
  it('runs the whole flow for 500 rows and reports every number', async () => {
    const { url, appId, apiKey } = runtime.current;
    const demo = await run(DEMO, [
      '--rows',
      '500',
      '--json',
      '--endpoint',
      url,
      '--app-id',
      appId,
      '--api-key',
      apiKey,
      '--out',
      join(dir, 'demo.csv'),
    ]);
    expect(demo.code, demo.stderr).toBe(0);
    const s = demo.json;
    expect(s).toMatchObject({
      rows: 500,
      badRows: 6,
      imported: 494,
      rejected: 6,
      duplicates: 0,
      status: 'sent',
      counts: { pending: 0, queued: 0, sent: 494, failed: 0, skipped: 0 },
    });
    // 500 rows are over this runtime's 4 KiB direct limit: the presigned path.
    expect(s.uploadPath).toBe('presigned');
    const report = await readFile(s.rejectionsReport, 'utf8');
    expect(report.trim().split('\n')).toHaveLength(1 + 6);
    for (const key of [
      'importSeconds',
      'importRowsPerSecond',
      'dispatchSeconds',
      'deliverySeconds',
      'uploadToFinalSeconds',
    ]) {
      expect(s[key], key).toBeGreaterThan(0);
    }
    expect(s.deliverySeconds).toBeGreaterThanOrEqual(s.dispatchSeconds);
    // The upload-to-final time spans the upload, the import and the delivery.
    expect(s.uploadToFinalSeconds).toBeGreaterThanOrEqual(s.deliverySeconds);
    const campaign = await apiClient(url, { appId, apiKey }).get(`/api/campaigns/${s.campaignId}`);
    expect(campaign.body.data).toMatchObject({ status: 'sent', recipientCount: 494 });
  });
});
