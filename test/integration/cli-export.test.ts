/**
 * `campaigns recipients export`, end to end as a child process against a local runtime
 * (the style of cli.test.ts): an inline export to stdout, a `--status` filter, and a
 * large export (the inline bound lowered here) followed through its job and downloaded,
 * with progress on stderr and only the CSV on stdout.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecipientsStore } from '#shared/store/recipients.ts';
import { parseCsv } from '#test/support/csv.ts';
import { addRecipients, numberedRecipients } from '#test/support/recipients.ts';
import { apiClient, type Credentials, newApp, useRuntime } from '#test/support/runtime.ts';
import { draftCampaign } from '#test/support/uploads.ts';

const runtime = useRuntime({ env: { EXPORT_INLINE_MAX_ROWS: '20' } });
const CLI = new URL('../../cli/campaigns.ts', import.meta.url).pathname;
const schema = { name: { type: 'string', required: true } };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-export-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(credentials: Credentials, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [
        CLI,
        ...args,
        '--endpoint',
        runtime.current.url,
        '--app-id',
        credentials.appId,
        '--api-key',
        credentials.apiKey,
      ],
      { cwd: dir, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

async function campaignWith(count: number, failed: number) {
  const credentials = await newApp('cli-exp');
  const api = apiClient(runtime.current.url, credentials);
  const campaignId = await draftCampaign(api, schema);
  await addRecipients(credentials.appId, campaignId, numberedRecipients(count));
  const { projectOutcomes } = createRecipientsStore(runtime.current.table);
  await projectOutcomes(
    credentials.appId,
    campaignId,
    'chunk-test',
    Array.from({ length: failed }, (_, i) => ({
      userId: `u${i}`,
      variables: { name: `Name ${i}` },
      status: 'failed' as const,
      error: `+error ${i}`,
    })),
  );
  return { credentials, campaignId };
}

const userIds = (csv: string) =>
  parseCsv(csv)
    .slice(1)
    .map((r) => r[0])
    .sort();

describe('campaigns recipients export', () => {
  it('writes a small export to stdout, only the CSV, and --status picks those recipients', async () => {
    const { credentials, campaignId } = await campaignWith(5, 2);
    const all = await cli(credentials, 'recipients', 'export', campaignId);
    expect(all.code, all.stderr).toBe(0);
    expect(parseCsv(all.stdout)[0]).toEqual(['user_id', 'name', 'status', 'error']);
    expect(userIds(all.stdout)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4']);
    expect(all.stderr).toContain(`exported 5 recipients of ${campaignId}`);

    const failed = await cli(credentials, 'recipients', 'export', campaignId, '--status', 'failed');
    expect(failed.code, failed.stderr).toBe(0);
    expect(parseCsv(failed.stdout).slice(1)).toEqual(
      expect.arrayContaining([
        ['u0', 'Name 0', 'failed', "'+error 0"],
        ['u1', 'Name 1', 'failed', "'+error 1"],
      ]),
    );
    expect(userIds(failed.stdout)).toEqual(['u0', 'u1']);
  });

  it('follows a large export through its job, shows progress on stderr, and downloads every row', async () => {
    const { credentials, campaignId } = await campaignWith(60, 0);
    const res = await cli(credentials, 'recipients', 'export', campaignId);
    expect(res.code, res.stderr).toBe(0);
    expect(userIds(res.stdout)).toEqual(
      numberedRecipients(60)
        .map((r) => r.userId)
        .sort(),
    );
    expect(res.stderr).toMatch(/export\s+\[#+\]\s+100%\s+60 \/ 60/);
    expect(res.stderr).toMatch(/exported 60 recipients of \S+ \([\d.]+ KiB, export exp_\w+\)/);

    const saved = join(dir, 'all.csv');
    const toFile = await cli(credentials, 'recipients', 'export', campaignId, '--output', saved, '--json');
    expect(toFile.code, toFile.stderr).toBe(0);
    expect(JSON.parse(toFile.stdout)).toMatchObject({ via: 'job', rows: 60, path: saved });
    expect(await readFile(saved, 'utf8')).toBe(res.stdout);
  });

  it("exits 1 with the API's message for a bad status, and 2 without a campaign", async () => {
    const { credentials, campaignId } = await campaignWith(1, 0);
    const bad = await cli(credentials, 'recipients', 'export', campaignId, '--status', 'failes');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("status 'failes' is not a recipient status");
    expect(bad.stdout).toBe('');
    const usage = await cli(credentials, 'recipients', 'export');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage: campaigns recipients export <campaignId>');
  });
});
