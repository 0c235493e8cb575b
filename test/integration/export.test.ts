/**
 * Recipient exports (docs/api.md, "Exporting recipients"), against the local runtime:
 * the file uploads back as it is (formula-looking values included) and opens in a
 * spreadsheet without a formula, `?status=` picks exactly those recipients, and past the
 * inline bound (lowered here) the export job writes the same CSV to S3 for a URL.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createExportsStore } from '#shared/store/exports.ts';
import { createRecipientsStore, type RecipientOutcome } from '#shared/store/recipients.ts';
import { parseCsv } from '#test/support/csv.ts';
import { addRecipients, numberedRecipients, storedRecipients } from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { draftCampaign, postUpload, settledUpload, uploadForm } from '#test/support/uploads.ts';

/** While set, Lambda refuses to start the export function (an outage of the Invoke API). */
let invokeFails = false;

const runtime = useRuntime({
  interceptInvoke: (name) => {
    if (name === 'exportRecipients' && invokeFails) throw new Error('Lambda is unavailable');
    return false;
  },
  env: {
    // A few hundred rows take the 202 path; parts of the smallest size S3 allows.
    EXPORT_INLINE_MAX_ROWS: '250',
    EXPORT_PART_BYTES: String(5 * 1024 * 1024),
  },
});

const schema = {
  name: { type: 'string', required: true },
  note: { type: 'string' },
  n: { type: 'number' },
  vip: { type: 'boolean' },
};

/** Values a spreadsheet would run, values that look neutralised already, and CSV syntax. */
const hostile: { userId: string; variables: Record<string, string | number | boolean> }[] = [
  { userId: 'f1', variables: { name: '=SUM(A1)', note: '+1', n: -2, vip: true } },
  { userId: '-f2', variables: { name: '-2', note: '@x', n: 0.5 } },
  { userId: '@f3', variables: { name: "'quoted", note: "'=already neutral", vip: false } },
  { userId: 'f4', variables: { name: "''", note: "'", n: 2.5e-7 } },
  { userId: 'f5', variables: { name: 'a, "b", c', note: 'line 1\nline 2\r\nline 3' } },
  { userId: 'f6', variables: { name: '\tlead tab', note: '\rlead cr' } },
  { userId: 'f7', variables: { name: 'Zoë 🙂 日本', note: '=HYPERLINK("http://x","y")' } },
  { userId: 'f8', variables: { name: 'plain' } },
];

async function client() {
  const credentials = await newApp('exp');
  return { api: apiClient(runtime.current.url, credentials), appId: credentials.appId };
}

async function templateOf(api: ReturnType<typeof apiClient>, campaignId: string): Promise<string> {
  return (await api.get(`/api/campaigns/${campaignId}`)).body.data.templateId as string;
}

async function inlineExport(api: ReturnType<typeof apiClient>, campaignId: string, query = '') {
  const res = await api.request<string>('GET', `/api/campaigns/${campaignId}/recipients/export${query}`);
  expect(res.status, String(res.body)).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
  return res.body;
}

/** Follows a 202 to the ready export and downloads it. */
async function jobExport(api: ReturnType<typeof apiClient>, campaignId: string, query = '') {
  const started = await api.get(`/api/campaigns/${campaignId}/recipients/export${query}`);
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  const { exportId, location } = started.body.data;
  expect(location).toBe(`/api/campaigns/${campaignId}/recipients/exports/${exportId}`);
  let job: any;
  await expect
    .poll(
      async () => {
        job = (await api.get(location)).body.data;
        return job.status;
      },
      { timeout: 60_000, interval: 200 },
    )
    .toMatch(/^(ready|failed)$/);
  expect(job.status, JSON.stringify(job)).toBe('ready');
  const download = await fetch(job.url);
  expect(download.status).toBe(200);
  return { job, csv: await download.text() };
}

const formulaStart = /^[=+\-@\t\r]/;

/** Gives recipients a delivery outcome, as the delivery engine's projection does. */
async function settle(appId: string, campaignId: string, outcomes: RecipientOutcome[]) {
  const { projectOutcomes } = createRecipientsStore(runtime.current.table);
  await projectOutcomes(appId, campaignId, 'chunk-test', outcomes);
}

describe('recipient export', () => {
  it('uploads back as it is to a campaign on the same template: the same recipients and variables', async () => {
    const { api, appId } = await client();
    const source = await draftCampaign(api, schema);
    const added = await api.post(`/api/campaigns/${source}/recipients`, {
      userIds: hostile.map((r) => r.userId),
      variables: Object.fromEntries(hostile.map((r) => [r.userId, r.variables])),
    });
    expect(added.status, JSON.stringify(added.body)).toBe(200);

    const csv = await inlineExport(api, source);
    const rows = parseCsv(csv);
    // The variables in the order of the template's schema as the API gives it.
    const templateId = await templateOf(api, source);
    const keys = Object.keys((await api.get(`/api/templates/${templateId}`)).body.data.variableSchema);
    expect([...keys].sort()).toEqual(['n', 'name', 'note', 'vip']);
    expect(rows[0]).toEqual(['user_id', ...keys, 'status', 'error']);
    expect(rows).toHaveLength(hostile.length + 1);
    // Opened as a spreadsheet, no cell is a formula.
    const cells = rows.flat();
    expect(cells.filter((cell) => formulaStart.test(cell))).toEqual([]);
    expect(cells).toContain("'=SUM(A1)");
    expect(cells).toContain("'-2");

    const target = await api.post('/api/campaigns', { name: 'again', templateId });
    expect(target.status).toBe(201);
    const upload = await postUpload(api, uploadForm(target.body.data.id, csv));
    expect(upload.status, JSON.stringify(upload.body)).toBe(200);
    const done = await settledUpload(api, target.body.data.id, upload.body.data.uploadId);
    expect(done).toMatchObject({ status: 'completed', uploaded: hostile.length, rejected: 0 });

    const { byUser } = await storedRecipients(appId, target.body.data.id);
    const back = Object.fromEntries([...byUser].map(([userId, item]) => [userId, item.variables]));
    expect(back).toEqual(Object.fromEntries(hostile.map((r) => [r.userId, r.variables])));
  });

  it('with ?status=failed, gives exactly the failed recipients with their error', async () => {
    const { api, appId } = await client();
    const campaignId = await draftCampaign(api, schema);
    await addRecipients(appId, campaignId, numberedRecipients(6));
    await settle(appId, campaignId, [
      { userId: 'u1', variables: { name: 'Name 1' }, status: 'failed', error: 'the webhook answered 500' },
      { userId: 'u4', variables: { name: 'Name 4' }, status: 'failed', error: '-1: timed out' },
      { userId: 'u2', variables: { name: 'Name 2' }, status: 'sent' },
    ]);

    const rows = parseCsv(await inlineExport(api, campaignId, '?status=failed'));
    const header = rows[0] as string[];
    const [status, error] = [header.indexOf('status'), header.indexOf('error')];
    expect(rows.slice(1).map((r) => [r[0], r[status], r[error]])).toEqual(
      expect.arrayContaining([
        ['u1', 'failed', 'the webhook answered 500'],
        ['u4', 'failed', "'-1: timed out"],
      ]),
    );
    expect(rows).toHaveLength(3);

    const every = parseCsv(await inlineExport(api, campaignId));
    expect(
      every
        .slice(1)
        .map((r) => r[0])
        .sort(),
    ).toEqual(['u0', 'u1', 'u2', 'u3', 'u4', 'u5']);
    expect(every.slice(1).filter((r) => r[status] === 'pending')).toHaveLength(3);

    const bad = await api.get(`/api/campaigns/${campaignId}/recipients/export?status=failes`);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'ERR_BAD_REQUEST', details: { field: 'status' } });
    expect(bad.body.error.message).toContain('pending, queued, sent, failed, skipped');
  });

  it('past the inline row bound, answers 202 and the export job writes the same CSV, every row, for a URL', async () => {
    const { api, appId } = await client();
    const campaignId = await draftCampaign(api, schema);
    await addRecipients(appId, campaignId, numberedRecipients(300));
    await settle(
      appId,
      campaignId,
      Array.from({ length: 100 }, (_, i) => ({
        userId: `u${i * 3}`,
        variables: { name: `Name ${i * 3}` },
        status: 'failed' as const,
        error: `=error ${i}`,
      })),
    );

    const { job, csv } = await jobExport(api, campaignId);
    const campaign = (await api.get(`/api/campaigns/${campaignId}`)).body.data;
    expect(campaign.recipientCount).toBe(300);
    expect(job.rows).toBe(campaign.recipientCount);
    const rows = parseCsv(csv);
    expect(rows).toHaveLength(301);
    expect(
      rows
        .slice(1)
        .map((r) => r[0])
        .sort(),
    ).toEqual(
      numberedRecipients(300)
        .map((r) => r.userId)
        .sort(),
    );

    // The 100 failed ones fit inline: the job's lines are the inline answer's, byte for byte.
    const inline = await inlineExport(api, campaignId, '?status=failed');
    const lines = (text: string) => text.split('\r\n').filter((line) => line !== '');
    expect(lines(csv)[0]).toBe(lines(inline)[0]);
    expect(lines(inline)).toHaveLength(101);
    expect(
      lines(csv)
        .filter((line) => line.includes(',failed,'))
        .sort(),
    ).toEqual(lines(inline).slice(1).sort());
  });

  it('past the inline byte bound, writes the file in parts of a multipart upload', async () => {
    const { api, appId } = await client();
    const campaignId = await draftCampaign(api, schema);
    // 200 recipients of 40 KB: about 8 MB, over the 5 MiB inline bound though under 250 rows.
    const big = (i: number) => `${i}:${'x'.repeat(40_000)}`;
    await addRecipients(
      appId,
      campaignId,
      Array.from({ length: 200 }, (_, i) => ({ userId: `b${i}`, variables: { name: big(i) } })),
    );

    const { job, csv } = await jobExport(api, campaignId);
    expect(job.rows).toBe(200);
    const rows = parseCsv(csv);
    expect(rows).toHaveLength(201);
    const nameAt = (rows[0] as string[]).indexOf('name');
    expect(new Map(rows.slice(1).map((r) => [r[0], r[nameAt]]))).toEqual(
      new Map(Array.from({ length: 200 }, (_, i) => [`b${i}`, big(i)])),
    );
    // A multipart object's ETag ends with its part count: 8 MB in 5 MiB parts is 2.
    const { client: s3, name: bucketName } = runtime.current.bucket;
    const head = await s3.send(
      new HeadObjectCommand({
        Bucket: bucketName,
        Key: `exports/${appId}/${campaignId}/${job.exportId}.csv`,
      }),
    );
    expect(head.ETag).toMatch(/-2"$/);
  });

  it('shows an export that stopped writing 20 minutes ago as failed, with what to do', async () => {
    const { api, appId } = await client();
    const campaignId = await draftCampaign(api, schema);
    const { createExport } = createExportsStore(runtime.current.table);
    const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
    const job = (exportId: string, minutesAgo: number) => ({
      exportId,
      appId,
      campaignId,
      status: 'running' as const,
      rows: 42,
      objectKey: `exports/${appId}/${campaignId}/${exportId}.csv`,
      createdAt: at(minutesAgo),
      updatedAt: at(minutesAgo),
      expiresAt: Math.floor(Date.now() / 1000) + 3600,
    });
    await createExport(job('exp_stopped', 21));
    await createExport(job('exp_writing', 1));

    const stopped = await api.get(`/api/campaigns/${campaignId}/recipients/exports/exp_stopped`);
    expect(stopped.body.data).toMatchObject({ status: 'failed', rows: 42 });
    expect(stopped.body.data.error).toContain(
      'start a new one with GET /api/campaigns/{id}/recipients/export',
    );
    const writing = await api.get(`/api/campaigns/${campaignId}/recipients/exports/exp_writing`);
    expect(writing.body.data).toMatchObject({ status: 'running', rows: 42 });
    expect(writing.body.data.url).toBeUndefined();
  });

  it('answers 202 with status failed, and the export failed with what to do, when the export function cannot be started', async () => {
    const { api, appId } = await client();
    const campaignId = await draftCampaign(api, schema);
    await addRecipients(appId, campaignId, numberedRecipients(300));
    invokeFails = true;
    let started: { status: number; body: any };
    try {
      started = await api.get(`/api/campaigns/${campaignId}/recipients/export`);
    } finally {
      invokeFails = false;
    }
    expect(started.status).toBe(202);
    expect(started.body.data.status).toBe('failed');
    const job = (await api.get(started.body.data.location)).body.data;
    expect(job).toMatchObject({ status: 'failed', rows: 0 });
    expect(job.error).toContain('could not be started; retry GET /api/campaigns/{id}/recipients/export');
  });
});
