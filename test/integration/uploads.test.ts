import { PutObjectCommand } from '@aws-sdk/client-s3';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { lambdaContext } from '#infra/local/lambda-context.ts';
import { appPk, uploadObjectKey, uploadSk } from '#shared/domain/keys.ts';
import { createRecipientsStore } from '#shared/store/recipients.ts';
import { createUploadsStore, newUpload } from '#shared/store/uploads.ts';
import { audienceUserId } from '#test/support/audience.ts';
import { importCsvFunction } from '#test/support/functions.ts';
import { allRecipients, storedRecipients } from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import {
  audienceCsv,
  draftCampaign,
  postUpload,
  settledUpload,
  storedRecipient,
  uploadForm,
} from '#test/support/uploads.ts';

const runtime = useRuntime({
  env: { DIRECT_UPLOAD_MAX_BYTES: String(256 * 1024), UPLOAD_WAIT_SECONDS: '20' },
});

async function client() {
  return apiClient(runtime.current.url, await newApp('upl'));
}

describe('direct CSV upload', () => {
  it('imports valid rows, reports rejected and duplicate ones, and counts the campaign', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const csv = [
      'user_id,name,discount,vip',
      '007,Ada,10,true',
      'bob,Bob,,false',
      '@carol,"=HYPERLINK(""x"")",abc,true',
      '007,Ada again,5,true',
      'dave,Dave,3,',
      '',
    ].join('\n');
    const res = await postUpload(api, uploadForm(campaignId, csv));
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({
      campaignId,
      status: 'completed',
      uploaded: 3,
      rejected: 1,
      duplicates: 1,
      total: 3,
    });

    const campaign = await api.get(`/api/campaigns/${campaignId}`);
    expect(campaign.body.data.recipientCount).toBe(3);
    expect(campaign.body.data.counts.pending).toBe(3);

    const upload = await api.get(`/api/campaigns/${campaignId}/uploads/${res.body.data.uploadId}`);
    expect(upload.body.data).toMatchObject({
      status: 'completed',
      rowsRead: 5,
      uploaded: 3,
      rejected: 1,
      duplicates: 1,
    });
    expect(upload.body.data.rejections).toEqual([
      { row: 4, userId: '@carol', reason: expect.stringContaining("discount: expected a number, got 'abc'") },
    ]);
    const report = await fetch(upload.body.data.rejectionsReportUrl);
    expect(report.status).toBe(200);
    const text = await report.text();
    expect(text.split('\r\n')[0]).toBe('row,user_id,reason');
    // A cell a spreadsheet would run as a formula is neutralised with a leading apostrophe.
    expect(text).toContain("4,'@carol,");
  });

  it('rejects each row that breaks a row rule with its reason, and keeps every other row', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const long = 'x'.repeat(101);
    const csv = [
      'user_id,name,discount,vip', // row 1: the header
      'ok1,Ada,1,true',
      ',Empty,1,true',
      'has space,Bob,1,true',
      `${long},Bob,1,true`,
      'ok2,Bob,abc,true',
      'ok3,Bob,1,maybe',
      'ok4,,1,true',
      'ok5,ThisNameIsWayTooLongForIt,1,true',
      'ok6,Bob,1',
      'ok7,Bob,1,true,extra',
      '', // row 12: blank, skipped
      'ok1,Duplicate,2,false',
      'ok8,Cleo,,',
      '"ok9","Quoted, with comma",3,TRUE',
    ].join('\r\n');
    const res = await postUpload(api, uploadForm(campaignId, csv));
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ uploaded: 3, rejected: 9, duplicates: 1, total: 3 });

    const upload = (await api.get(`/api/campaigns/${campaignId}/uploads/${res.body.data.uploadId}`)).body
      .data;
    expect(upload.rowsRead).toBe(13);
    expect(upload.rejections).toEqual([
      { row: 3, userId: '', reason: 'user_id: required, but empty' },
      {
        row: 4,
        userId: 'has space',
        reason: "user_id: only letters, digits and _ @ . : - are allowed, got 'has space'",
      },
      { row: 5, userId: `${'x'.repeat(100)}…`, reason: 'user_id: at most 100 characters, got 101' },
      { row: 6, userId: 'ok2', reason: "discount: expected a number, got 'abc'" },
      { row: 7, userId: 'ok3', reason: "vip: expected true or false, got 'maybe'" },
      { row: 8, userId: 'ok4', reason: 'name: required, but empty and without a default' },
      { row: 9, userId: 'ok5', reason: 'name: at most 20 characters, got 25' },
      { row: 10, userId: 'ok6', reason: 'expected 4 fields (user_id,name,discount,vip), got 3' },
      { row: 11, userId: 'ok7', reason: 'expected 4 fields (user_id,name,discount,vip), got 5' },
    ]);
    const appId = (await api.get(`/api/campaigns/${campaignId}`)).body.data.appId;
    // The first row of a duplicated user wins; an empty cell takes the default; quoted commas stay in the value.
    expect((await storedRecipient(appId, campaignId, 'ok1'))?.variables).toEqual({
      name: 'Ada',
      discount: 1,
      vip: true,
    });
    expect((await storedRecipient(appId, campaignId, 'ok8'))?.variables).toEqual({
      name: 'Cleo',
      discount: 0,
    });
    expect((await storedRecipient(appId, campaignId, 'ok9'))?.variables).toEqual({
      name: 'Quoted, with comma',
      discount: 3,
      vip: true,
    });
  });

  it('accepts a UTF-8 BOM, as Excel writes it, and drops it from the header', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const res = await postUpload(api, uploadForm(campaignId, '\ufeffuser_id,name\r\nu1,Ada\r\n'));
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ uploaded: 1, rejected: 0, total: 1 });
  });

  it('keeps user ids exactly as written, leading zeros included', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const res = await postUpload(api, uploadForm(campaignId, 'user_id,name\n000123,Zero\n1e5,Sci\n'));
    expect(res.body.data).toMatchObject({ uploaded: 2, total: 2 });
    const appId = (await api.get(`/api/campaigns/${campaignId}`)).body.data.appId;
    expect(await storedRecipient(appId, campaignId, '000123')).toMatchObject({ userId: '000123' });
    expect(await storedRecipient(appId, campaignId, '1e5')).toMatchObject({ userId: '1e5' });
  });

  it.each([
    ['no user_id column', 'name,discount\nAda,1\n', 'user_id'],
    ['a column that is not a template variable', 'user_id,name,colour\nu1,Ada,red\n', 'colour'],
    ['a required variable without a column', 'user_id,discount\nu1,1\n', 'name'],
    ['semicolons instead of commas', 'user_id;name\nu1;Ada\n', ';'],
    ['an empty file', '', 'empty'],
    ['a file that is not UTF-8', Buffer.from('user_id,name\nu1,Jos\xe9\n', 'latin1'), 'UTF-8'],
    ['a UTF-16 file', Buffer.from('\ufeffuser_id,name\r\nu1,Ada\r\n', 'utf16le'), 'UTF-16'],
    ['a column name with a space', 'user_id,na me\nu1,Ada\n', "'na me'"],
    ['a duplicate column', 'user_id,name,name\nu1,Ada,Bea\n', "'name'"],
  ])('refuses %s with 400 before storing anything', async (_what, file, named) => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const res = await postUpload(api, uploadForm(campaignId, file));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_BAD_REQUEST');
    expect(res.body.error.message).toContain(named);
    const campaign = await api.get(`/api/campaigns/${campaignId}`);
    expect(campaign.body.data.recipientCount).toBe(0);
    // Nothing holds the campaign: a good file goes through at once.
    const ok = await postUpload(api, uploadForm(campaignId, 'user_id,name\nu1,Ada\n'));
    expect(ok.body.data).toMatchObject({ status: 'completed', uploaded: 1, total: 1 });
  });

  it('refuses a file over the direct upload limit and points to the presigned path', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const res = await postUpload(api, uploadForm(campaignId, audienceCsv(20_000)));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('ERR_PAYLOAD_TOO_LARGE');
    expect(res.body.error.message).toContain('/upload-url');
  });

  it('answers 404 for an unknown campaign or one of another app', async () => {
    const api = await client();
    const other = await client();
    const campaignId = await draftCampaign(other);
    for (const id of ['cmp_missing', campaignId]) {
      const res = await postUpload(api, uploadForm(id, 'user_id,name\nu1,Ada\n'));
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('ERR_NOT_FOUND');
    }
  });

  it('names the form field that is wrong', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const res = await postUpload(api, uploadForm(campaignId, 'user_id,name\nu1,Ada\n', 'csv'));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain("'file'");
  });

  it('appends a second upload, and a user in both keeps the later variables', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    await postUpload(api, uploadForm(campaignId, 'user_id,name,discount\nu1,First,1\nu2,Two,2\n'));
    const second = await postUpload(
      api,
      uploadForm(campaignId, 'user_id,name,discount\nu2,Later,9\nu3,Three,3\n'),
    );
    expect(second.body.data).toMatchObject({ uploaded: 2, total: 3 });
    const appId = (await api.get(`/api/campaigns/${campaignId}`)).body.data.appId;
    expect((await storedRecipient(appId, campaignId, 'u2'))?.variables).toEqual({
      name: 'Later',
      discount: 9,
    });
    expect((await storedRecipient(appId, campaignId, 'u1'))?.variables).toEqual({
      name: 'First',
      discount: 1,
    });
  });
});

describe('large files', () => {
  it('imports 100,000 rows with variables completely', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const csv = audienceCsv(100_000);
    const url = await api.post(`/api/campaigns/${campaignId}/upload-url`, {
      contentLength: Buffer.byteLength(csv),
    });
    expect(url.status).toBe(201);
    const put = await fetch(url.body.data.url, { method: 'PUT', headers: url.body.data.headers, body: csv });
    expect(put.status).toBe(200);
    const upload = await settledUpload(api, campaignId, url.body.data.uploadId, 110_000);
    expect(upload).toMatchObject({
      status: 'completed',
      rowsRead: 100_000,
      uploaded: 100_000,
      rejected: 0,
      duplicates: 0,
    });
    const campaign = await api.get(`/api/campaigns/${campaignId}`);
    expect(campaign.body.data.recipientCount).toBe(100_000);
  }, 150_000);

  it('fails a file with 100,001 rows as a whole and adds no recipient', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const csv = audienceCsv(100_001);
    const url = await api.post(`/api/campaigns/${campaignId}/upload-url`, {
      contentLength: Buffer.byteLength(csv),
    });
    await fetch(url.body.data.url, { method: 'PUT', headers: url.body.data.headers, body: csv });
    const upload = await settledUpload(api, campaignId, url.body.data.uploadId);
    expect(upload.status).toBe('failed');
    expect(upload.error).toMatchObject({
      code: 'ERR_BAD_REQUEST',
      message: expect.stringContaining('more than 100,000 data rows'),
    });
    const { countRecipients } = createRecipientsStore(runtime.current.table);
    const appId = (await api.get(`/api/campaigns/${campaignId}`)).body.data.appId;
    expect(await countRecipients(appId, campaignId)).toBe(0);
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(0);
  }, 150_000);
});

describe('presigned upload', () => {
  it('imports a file PUT straight to S3, like the direct path', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const csv = audienceCsv(500);
    const url = await api.post(`/api/campaigns/${campaignId}/upload-url`, {
      contentLength: Buffer.byteLength(csv),
    });
    expect(url.body.data).toMatchObject({ method: 'PUT', maxBytes: 50 * 1024 * 1024 });
    expect(Date.parse(url.body.data.expiresAt)).toBeGreaterThan(Date.now() + 14 * 60_000);
    await fetch(url.body.data.url, { method: 'PUT', headers: url.body.data.headers, body: csv });
    const upload = await settledUpload(api, campaignId, url.body.data.uploadId);
    expect(upload).toMatchObject({ status: 'completed', uploaded: 500 });
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(500);
  });

  it('fails an object larger than the size it declared, adding nothing', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const appId = (await api.get(`/api/campaigns/${campaignId}`)).body.data.appId;
    const csv = audienceCsv(50);
    const url = await api.post(`/api/campaigns/${campaignId}/upload-url`, { contentLength: 100 });
    expect(url.status).toBe(201);
    // The presigned URL refuses a body of another length (the length is signed)...
    const put = await fetch(url.body.data.url, {
      method: 'PUT',
      headers: { 'content-type': 'text/csv' },
      body: csv,
    });
    expect(put.status).toBe(403);
    // ...and an object that reaches the key anyway (S3 may not check every signed length) fails at the importer.
    const { client: s3, name: bucketName } = runtime.current.bucket;
    await s3.send(
      new PutObjectCommand({
        Bucket: bucketName,
        Key: uploadObjectKey(appId, campaignId, url.body.data.uploadId),
        Body: csv,
      }),
    );
    const settled = await settledUpload(api, campaignId, url.body.data.uploadId);
    expect(settled).toMatchObject({
      status: 'failed',
      uploaded: 0,
      error: {
        code: 'ERR_BAD_REQUEST',
        message: `The file is ${Buffer.byteLength(csv)} bytes, over the 100 bytes allowed for this upload; request a new upload URL with the file's exact size.`,
      },
    });
    expect(await storedRecipients(appId, campaignId)).toMatchObject({ items: 0 });
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(0);
  });

  it('refuses a declared size over the limit, naming the field', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const res = await api.post(`/api/campaigns/${campaignId}/upload-url`, {
      contentLength: 60 * 1024 * 1024,
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain('contentLength');
  });
});

describe('the importer is idempotent', () => {
  it('does not import again when the same S3 event is delivered after completion', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const res = await postUpload(api, uploadForm(campaignId, audienceCsv(300)));
    expect(res.body.data).toMatchObject({ uploaded: 300, total: 300 });
    const appId = (await api.get(`/api/campaigns/${campaignId}`)).body.data.appId;
    const uploadPath = `/api/campaigns/${campaignId}/uploads/${res.body.data.uploadId}`;
    const completed = (await api.get(uploadPath)).body.data;
    // Each recipient item carries the time its import started: a re-import rewrites it.
    const written = new Map(
      (await allRecipients(appId, campaignId)).map((item) => [item.userId, item.updatedAt]),
    );
    expect(written.size).toBe(300);

    const { handler } = await importCsvFunction();
    const key = `uploads/${appId}/${campaignId}/${res.body.data.uploadId}.csv`;
    const event = {
      Records: [{ s3: { bucket: { name: process.env.BUCKET_NAME }, object: { key, size: 10 } } }],
    };
    await handler(event as never, lambdaContext('importCsv', 60));
    await handler(event as never, lambdaContext('importCsv', 60));

    const after = (await api.get(uploadPath)).body.data;
    expect(after).toMatchObject({ status: 'completed', uploaded: 300, completedAt: completed.completedAt });
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(300);
    const rewritten = new Map(
      (await allRecipients(appId, campaignId)).map((item) => [item.userId, item.updatedAt]),
    );
    expect(rewritten).toEqual(written);
  });

  it('finishes with exact counts after an importer died half-way', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const appId = (await api.get(`/api/campaigns/${campaignId}`)).body.data.appId;
    const csv = audienceCsv(1000);
    const { createUpload, claimUpload } = createUploadsStore(runtime.current.table);
    const { putRecipients } = createRecipientsStore(runtime.current.table);
    const { client: s3, name: bucketName } = runtime.current.bucket;
    const upload = newUpload({
      uploadId: 'upl_crash',
      appId,
      campaignId,
      source: 'presigned',
      maxBytes: csv.length,
    });
    await createUpload(upload);
    // A first importer claimed it, wrote the first 400 recipients, and died: its lease is in the past.
    const claimed = await claimUpload(
      appId,
      campaignId,
      upload.uploadId,
      'dead-importer',
      Date.now() - 120_000,
    );
    expect(claimed.outcome).toBe('claimed');
    await putRecipients(
      appId,
      campaignId,
      Array.from({ length: 400 }, (_, i) => ({
        userId: audienceUserId(i + 1),
        variables: { name: 'old' },
      })),
      upload.uploadId,
    );
    // The file arrives; its event is the retry that finds the dead importer's lease expired.
    await s3.send(new PutObjectCommand({ Bucket: bucketName, Key: upload.objectKey, Body: csv }));
    await settledUpload(api, campaignId, upload.uploadId);
    const after = await api.get(`/api/campaigns/${campaignId}/uploads/${upload.uploadId}`);
    expect(after.body.data).toMatchObject({ status: 'completed', uploaded: 1000 });
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(1000);
    // What the dead importer wrote was rewritten from the file, not kept.
    expect((await storedRecipient(appId, campaignId, 'u000001'))?.variables).toMatchObject({
      name: 'Name 1',
    });
  });
});

describe('inline recipients', () => {
  it('adds recipients to a draft and reports the total', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const res = await api.post(`/api/campaigns/${campaignId}/recipients`, {
      userIds: ['a1', 'a2', 'a2', 'a3'],
      variables: { a1: { name: 'One' }, a2: { name: 'Two' }, a3: { name: 'Three', discount: 5 } },
    });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ added: 3, total: 3 });
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(3);
  });

  it('names a missing required variable and a bad user id', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const missing = await api.post(`/api/campaigns/${campaignId}/recipients`, { userIds: ['a1'] });
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toContain("'name'");
    const bad = await api.post(`/api/campaigns/${campaignId}/recipients`, { userIds: ['has space'] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("'has space'");
    // In the words a CSV row with that user_id gets (the direct upload test above).
    expect(bad.body.error.message).toBe(
      "Invalid user ids: userIds[0]: only letters, digits and _ @ . : - are allowed, got 'has space'.",
    );
    expect(bad.body.error.details).toEqual({ field: 'userIds', invalid: ['has space'] });
  });

  it('stores what a CSV row of the same values stores: an empty value takes its default', async () => {
    const api = await client();
    const schema = {
      name: { type: 'string', maxLength: 5 },
      greeting: { type: 'string', default: 'Hi' },
      note: { type: 'string' },
    };
    const viaCsv = await draftCampaign(api, schema);
    const viaInline = await draftCampaign(api, schema);
    const csv = 'user_id,name,greeting,note\nu1,Ada,,\nu2,😀😀😀😀😀,Yo,n\n';
    expect((await postUpload(api, uploadForm(viaCsv, csv))).body.data).toMatchObject({ uploaded: 2 });
    const added = await api.post(`/api/campaigns/${viaInline}/recipients`, {
      userIds: ['u1', 'u2'],
      variables: {
        u1: { name: 'Ada', greeting: '', note: '' },
        u2: { name: '😀😀😀😀😀', greeting: 'Yo', note: 'n' },
      },
    });
    expect(added.status).toBe(200);

    const listed = async (id: string) =>
      Object.fromEntries(
        (await api.get(`/api/campaigns/${id}/recipients`)).body.data.map((r: any) => [r.userId, r.variables]),
      );
    expect(await listed(viaInline)).toEqual({
      u1: { name: 'Ada', greeting: 'Hi' },
      u2: { name: '😀😀😀😀😀', greeting: 'Yo', note: 'n' },
    });
    expect(await listed(viaInline)).toEqual(await listed(viaCsv));
  });
});

describe('the import lock', () => {
  it('refuses a send while an import holds a live lease, and lets it through once that import is dead', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    await api.post(`/api/campaigns/${campaignId}/recipients`, {
      userIds: ['a1', 'a2'],
      variables: { a1: { name: 'A' }, a2: { name: 'B' } },
    });
    const appId = (await api.get(`/api/campaigns/${campaignId}`)).body.data.appId;
    const { createUpload, claimUpload } = createUploadsStore(runtime.current.table);
    const { putRecipients } = createRecipientsStore(runtime.current.table);

    const live = newUpload({ uploadId: 'upl_live', appId, campaignId, source: 'presigned', maxBytes: 10 });
    await createUpload(live);
    expect((await claimUpload(appId, campaignId, live.uploadId, 'running-importer')).outcome).toBe('claimed');
    const refused = await api.post(`/api/campaigns/${campaignId}/send`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain('import running');

    // The importer dies after writing one more recipient; its lease runs out long ago.
    await putRecipients(appId, campaignId, [{ userId: 'a3', variables: { name: 'C' } }], live.uploadId);
    const { client: documents, tableName } = runtime.current.table;
    await documents.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: appPk(appId), sk: uploadSk(campaignId, live.uploadId) },
        UpdateExpression: 'SET leaseUntil = :past',
        ExpressionAttributeValues: { ':past': Date.now() - 10 * 60_000 },
      }),
    );
    const sent = await api.post(`/api/campaigns/${campaignId}/send`);
    expect(sent.status).toBe(202);
    const upload = await api.get(`/api/campaigns/${campaignId}/uploads/${live.uploadId}`);
    expect(upload.body.data).toMatchObject({ status: 'failed', error: { code: 'ERR_OPERATION_FAILED' } });
    // The recipient the dead import wrote is counted, so the campaign completes only when it is delivered too.
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(3);
  });
});
