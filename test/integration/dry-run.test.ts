/**
 * A dry run of an upload (`POST /api/campaigns/upload?dryRun=true`, and an upload URL
 * asked with `dryRun: true`): the importer's answer for the file, plus what it detected of
 * the file and a rendered preview, and nothing stored: no recipient, no lock, no campaign
 * change, no file left in the bucket. A real upload of the same file right after is
 * accepted and reports the same counts and rejections.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { appPk, campaignSk } from '#shared/domain/keys.ts';
import { allRecipients } from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { audienceSchema, postUpload, settledUpload, uploadForm } from '#test/support/uploads.ts';

const outbox = join(mkdtempSync(join(tmpdir(), 'dry-run-')), 'outbox.jsonl');
/** Campaigns whose send function the test holds back, so they stay `sending`. */
const held = new Set<string>();
const runtime = useRuntime({
  env: { UPLOAD_WAIT_SECONDS: '20', OUTBOX_PATH: outbox, DELIVERY_RETRY_BASE_SECONDS: '0' },
  interceptInvoke: (name, event) =>
    name === 'sendCampaign' && held.delete((event as { campaignId: string }).campaignId),
});

type Api = ReturnType<typeof apiClient>;

async function setup() {
  const credentials = await newApp('dry');
  const api = apiClient(runtime.current.url, credentials);
  const template = await api.post('/api/templates', {
    name: 'offer',
    title: 'For {{name}}',
    body: 'Hello {{name}}, {{discount}}% off',
    variableSchema: audienceSchema,
  });
  expect(template.status).toBe(201);
  expect((await api.put(`/api/templates/${template.body.data.id}`, { status: 'approved' })).status).toBe(200);
  const campaign = await api.post('/api/campaigns', { name: 'dry', templateId: template.body.data.id });
  expect(campaign.status).toBe(201);
  return { api, appId: credentials.appId, campaignId: campaign.body.data.id as string };
}

/** A UTF-8 BOM, CRLF line breaks, six valid rows, one rejected and one duplicate. */
const mixedCsv = `\ufeff${[
  'user_id,name,discount,vip',
  'u1,Ada,10,true',
  'u2,Bob,,false',
  'u3,Cid,abc,true',
  'u1,Ada again,5,true',
  'u4,Dee,4,',
  'u5,Eve,5,true',
  'u6,Fay,6,false',
  'u7,Gus,7,true',
].join('\r\n')}\r\n`;

const mixedAnswer = {
  status: 'completed',
  dryRun: true,
  rowsRead: 8,
  uploaded: 6,
  rejected: 1,
  duplicates: 1,
  rejections: [{ row: 4, userId: 'u3', reason: "discount: expected a number, got 'abc'" }],
  detected: { encoding: 'UTF-8', bom: true, lineEndings: 'CRLF', delimiter: ',', rows: 8 },
  // The first five valid rows (not the rejected u3, not u1's duplicate), rendered.
  preview: [
    {
      row: 2,
      userId: 'u1',
      variables: { name: 'Ada', discount: 10, vip: true },
      rendered: { title: 'For Ada', body: 'Hello Ada, 10% off' },
    },
    {
      row: 3,
      userId: 'u2',
      variables: { name: 'Bob', discount: 0, vip: false },
      rendered: { title: 'For Bob', body: 'Hello Bob, 0% off' },
    },
    {
      row: 6,
      userId: 'u4',
      variables: { name: 'Dee', discount: 4 },
      rendered: { title: 'For Dee', body: 'Hello Dee, 4% off' },
    },
    {
      row: 7,
      userId: 'u5',
      variables: { name: 'Eve', discount: 5, vip: true },
      rendered: { title: 'For Eve', body: 'Hello Eve, 5% off' },
    },
    {
      row: 8,
      userId: 'u6',
      variables: { name: 'Fay', discount: 6, vip: false },
      rendered: { title: 'For Fay', body: 'Hello Fay, 6% off' },
    },
  ],
};

/** The campaign's item as stored: status, counts, recipientCount, lock and updatedAt. */
async function campaignItem(appId: string, campaignId: string) {
  const { client: documents, tableName } = runtime.current.table;
  const { Item } = await documents.send(
    new GetCommand({
      TableName: tableName,
      Key: { pk: appPk(appId), sk: campaignSk(campaignId) },
      ConsistentRead: true,
    }),
  );
  expect(Item).toBeDefined();
  return Item as Record<string, unknown>;
}

/** Asks for a presigned dry run of `file` and PUTs it; the upload settled. */
async function presignedDryRun(api: Api, campaignId: string, file: string) {
  const grant = await api.post(`/api/campaigns/${campaignId}/upload-url`, {
    contentLength: Buffer.byteLength(file),
    dryRun: true,
  });
  expect(grant.status).toBe(201);
  expect(grant.body.data.dryRun).toBe(true);
  const put = await fetch(grant.body.data.url, {
    method: 'PUT',
    headers: grant.body.data.headers,
    body: file,
  });
  expect(put.status).toBe(200);
  const settled = await settledUpload(api, campaignId, grant.body.data.uploadId);
  return { grant: grant.body.data, settled };
}

/** The dry run's object is deleted once its record is settled. */
async function expectObjectGone(url: string) {
  const { client: s3, name: bucketName } = runtime.current.bucket;
  const key = decodeURIComponent(new URL(url).pathname.split('/').slice(2).join('/'));
  await expect
    .poll(
      () =>
        s3.send(new HeadObjectCommand({ Bucket: bucketName, Key: key })).then(
          () => 'still there',
          (e: Error) => e.name,
        ),
      { timeout: 30_000, interval: 200 },
    )
    .toBe('NotFound');
}

/** Nothing of the dry run is on the campaign: no recipient, the item as it was. */
async function expectNothingStored(appId: string, campaignId: string, before: Record<string, unknown>) {
  expect(await allRecipients(appId, campaignId)).toEqual([]);
  const after = await campaignItem(appId, campaignId);
  expect(after).toEqual(before);
  expect(after.importingUploadId).toBeUndefined();
}

/** A real upload of `file` right after: accepted (no lock left), and its import's answer and rejections. */
async function realUpload(api: Api, campaignId: string, file: string) {
  const res = await postUpload(api, uploadForm(campaignId, file));
  expect(res.status).toBe(200);
  const upload = (await api.get(`/api/campaigns/${campaignId}/uploads/${res.body.data.uploadId}`)).body.data;
  return { answer: res.body.data, upload };
}

function dryRunDirect(api: Api, campaignId: string, file: string | Buffer) {
  return api.request<any>('POST', '/api/campaigns/upload?dryRun=true', {
    body: uploadForm(campaignId, file),
  });
}

describe('a dry run of an upload', () => {
  it('direct: answers the import of the file, what it detected and a preview, and stores nothing', async () => {
    const { api, appId, campaignId } = await setup();
    const before = await campaignItem(appId, campaignId);

    const dry = await dryRunDirect(api, campaignId, mixedCsv);
    expect(dry.status).toBe(200);
    expect(dry.body.data).toEqual({ campaignId, ...mixedAnswer });
    await expectNothingStored(appId, campaignId, before);

    // The real upload of the same file is accepted and reports what the dry run said it would.
    const real = await realUpload(api, campaignId, mixedCsv);
    expect(real.answer).toMatchObject({
      status: 'completed',
      uploaded: 6,
      rejected: 1,
      duplicates: 1,
      total: 6,
    });
    expect(real.upload.rejections).toEqual(dry.body.data.rejections);
    expect(real.upload.rowsRead).toBe(dry.body.data.rowsRead);
    expect((await allRecipients(appId, campaignId)).map((r) => r.userId).sort()).toEqual([
      'u1',
      'u2',
      'u4',
      'u5',
      'u6',
      'u7',
    ]);
  });

  it('presigned: the upload record answers the same, takes no lock, and the file is deleted', async () => {
    const { api, appId, campaignId } = await setup();
    const before = await campaignItem(appId, campaignId);

    const { grant, settled } = await presignedDryRun(api, campaignId, mixedCsv);
    expect(settled).toMatchObject({ uploadId: grant.uploadId, source: 'presigned', ...mixedAnswer });
    expect(settled.rejectionsReportUrl).toBeUndefined();
    await expectObjectGone(grant.url);
    await expectNothingStored(appId, campaignId, before);

    const real = await realUpload(api, campaignId, mixedCsv);
    expect(real.answer).toMatchObject({
      status: 'completed',
      uploaded: settled.uploaded,
      rejected: settled.rejected,
      duplicates: settled.duplicates,
      total: 6,
    });
    expect(real.upload.rejections).toEqual(settled.rejections);
  });

  it('a presigned dry run next to a real presigned upload of the campaign: neither holds up the other', async () => {
    const { api, appId, campaignId } = await setup();
    // A real presigned upload granted (its import takes the lock when the file arrives), and a dry run run meanwhile.
    const realGrant = await api.post(`/api/campaigns/${campaignId}/upload-url`, {
      contentLength: Buffer.byteLength(mixedCsv),
    });
    expect(realGrant.status).toBe(201);
    const { settled } = await presignedDryRun(api, campaignId, mixedCsv);
    expect(settled).toMatchObject({ status: 'completed', uploaded: 6 });
    const put = await fetch(realGrant.body.data.url, {
      method: 'PUT',
      headers: realGrant.body.data.headers,
      body: mixedCsv,
    });
    expect(put.status).toBe(200);
    const real = await settledUpload(api, campaignId, realGrant.body.data.uploadId);
    expect(real).toMatchObject({ status: 'completed', uploaded: 6 });
    expect((await campaignItem(appId, campaignId)).recipientCount).toBe(6);
  });

  it.each([
    ['a header with semicolons', 'user_id;name\nu1;Ada\n', "';' as the delimiter"],
    ['a column the template does not have', 'user_id,name,colour\nu1,Ada,red\n', "'colour'"],
    ['invalid UTF-8 in the last row', Buffer.from('user_id,name\nu1,Ada\nu2,Jos\xe9\n', 'latin1'), 'UTF-8'],
  ])('%s: both paths answer the import error and store nothing', async (_what, file, named) => {
    const { api, appId, campaignId } = await setup();
    const before = await campaignItem(appId, campaignId);

    const direct = await dryRunDirect(api, campaignId, file);
    expect(direct.status).toBe(400);
    expect(direct.body.error).toMatchObject({
      code: 'ERR_BAD_REQUEST',
      message: expect.stringContaining(named),
    });

    const body = file;
    const grant = await api.post(`/api/campaigns/${campaignId}/upload-url`, {
      contentLength: Buffer.byteLength(body),
      dryRun: true,
    });
    expect(grant.status).toBe(201);
    const put = await fetch(grant.body.data.url, { method: 'PUT', headers: grant.body.data.headers, body });
    expect(put.status).toBe(200);
    const presigned = await settledUpload(api, campaignId, grant.body.data.uploadId);
    expect(presigned).toMatchObject({ status: 'failed', dryRun: true, uploaded: 0 });
    // The very error the import of the file gives, on both paths.
    expect(presigned.error).toEqual({ code: 'ERR_BAD_REQUEST', message: direct.body.error.message });
    expect(presigned.detected).toBeUndefined();
    expect(presigned.preview).toBeUndefined();
    await expectObjectGone(grant.body.data.url);
    await expectNothingStored(appId, campaignId, before);

    const realGrant = await api.post(`/api/campaigns/${campaignId}/upload-url`, {
      contentLength: Buffer.byteLength(body),
    });
    await fetch(realGrant.body.data.url, { method: 'PUT', headers: realGrant.body.data.headers, body });
    const real = await settledUpload(api, campaignId, realGrant.body.data.uploadId);
    expect(real.error).toEqual(presigned.error);
    // Nothing holds the campaign: a good file goes through at once.
    const ok = await postUpload(api, uploadForm(campaignId, 'user_id,name\nu1,Ada\n'));
    expect(ok.status).toBe(200);
    expect(ok.body.data).toMatchObject({ status: 'completed', uploaded: 1, total: 1 });
  });

  it.each(['sending', 'sent'] as const)(
    'answers for a campaign that is %s, and changes nothing',
    async (state) => {
      const { api, appId, campaignId } = await setup();
      expect((await postUpload(api, uploadForm(campaignId, 'user_id,name\nz1,Zed\n'))).status).toBe(200);
      if (state === 'sending') held.add(campaignId);
      expect((await api.post(`/api/campaigns/${campaignId}/send`)).status).toBe(202);
      await expect
        .poll(async () => (await api.get(`/api/campaigns/${campaignId}`)).body.data.status, {
          timeout: 60_000,
          interval: 200,
        })
        .toBe(state);
      const before = await campaignItem(appId, campaignId);
      const recipientsBefore = await allRecipients(appId, campaignId);

      // A real upload is refused: the campaign is no longer a draft...
      const refused = await postUpload(api, uploadForm(campaignId, mixedCsv));
      expect(refused.status).toBe(409);
      // ...and both dry runs answer all the same.
      const direct = await dryRunDirect(api, campaignId, mixedCsv);
      expect(direct.status).toBe(200);
      expect(direct.body.data).toEqual({ campaignId, ...mixedAnswer });
      const { settled } = await presignedDryRun(api, campaignId, mixedCsv);
      expect(settled).toMatchObject(mixedAnswer);

      expect(await campaignItem(appId, campaignId)).toEqual(before);
      expect(await allRecipients(appId, campaignId)).toEqual(recipientsBefore);
    },
  );

  it('names the dryRun parameter when it is neither true nor false', async () => {
    const { api, appId, campaignId } = await setup();
    const res = await api.request<any>('POST', '/api/campaigns/upload?dryRun=yes', {
      body: uploadForm(campaignId, mixedCsv),
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain("'dryRun'");
    expect(res.body.error.message).toContain('?dryRun=true');
    const body = await api.post(`/api/campaigns/${campaignId}/upload-url`, {
      contentLength: 10,
      dryRun: 'yes',
    });
    expect(body.status).toBe(400);
    expect(body.body.error.message).toContain('dryRun');
    expect(await allRecipients(appId, campaignId)).toEqual([]);
  });
});
