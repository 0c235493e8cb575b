/**
 * Recipient exports (docs/api.md, "Exporting recipients"), against the local runtime:
 * the file uploads back as it is (formula-looking values included) and opens in a
 * spreadsheet without a formula, `?status=` picks exactly those recipients, and past the
 * inline bound (lowered here) the export job writes the same CSV to S3 for a URL.
 */
import { describe, expect, it } from 'vitest';
import { parseCsv } from '#test/support/csv.ts';
import { addRecipients, storedRecipients } from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { draftCampaign, postUpload, settledUpload, uploadForm } from '#test/support/uploads.ts';

const runtime = useRuntime({
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
});
