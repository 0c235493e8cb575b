/**
 * The importer against a faulty AWS: every DynamoDB, S3 and SQS call of the runtime goes
 * through the fault proxy (test/support/faults). Each test ends with every recipient and
 * every counter checked exactly, and with the proxy's counters showing the faults fired.
 */
import { isDeepStrictEqual } from 'node:util';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { lambdaContext } from '#infra/local/lambda-context.ts';
import { createUploadsStore } from '#shared/store/uploads.ts';
import type { AwsFaults } from '#test/support/faults/aws.ts';
import { faultyAws } from '#test/support/faults/aws.ts';
import { importCsvFunction } from '#test/support/functions.ts';
import { storedRecipients } from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { audienceCsv, draftCampaign, postUpload, settledUpload, uploadForm } from '#test/support/uploads.ts';

let faults: AwsFaults;
const runtime = useRuntime({
  env: { UPLOAD_WAIT_SECONDS: '0' },
  retryDelaysMs: [200, 400],
  wrapAws: faultyAws((f) => {
    faults = f;
  }),
});

afterEach(() => faults.clear());

type Api = ReturnType<typeof apiClient>;

async function client() {
  const credentials = await newApp('faults');
  return { api: apiClient(runtime.current.url, credentials), appId: credentials.appId };
}

/** Checks every recipient `u<start>…` of `audienceCsv(rows, start, name)` is stored once, pending, with its own variables. */
function expectAudience(
  stored: Map<string, Record<string, any>>,
  rows: number,
  start = 1,
  name = (i: number) => `Name ${i}`,
) {
  const wrong: string[] = [];
  for (let i = start; i < start + rows; i += 1) {
    const userId = `u${String(i).padStart(6, '0')}`;
    const item = stored.get(userId);
    const variables = { name: name(i), discount: i % 50, vip: i % 2 === 0 };
    if (
      item?.status !== 'pending' ||
      !isDeepStrictEqual(item.variables, variables) ||
      item.gsi1pk === undefined
    ) {
      wrong.push(userId);
    }
  }
  expect(wrong.slice(0, 10), `${wrong.length} recipients missing or wrong`).toEqual([]);
}

async function presignedPut(api: Api, campaignId: string, csv: string): Promise<string> {
  const url = await api.post(`/api/campaigns/${campaignId}/upload-url`, {
    contentLength: Buffer.byteLength(csv),
  });
  expect(url.status).toBe(201);
  const put = await fetch(url.body.data.url, { method: 'PUT', headers: url.body.data.headers, body: csv });
  expect(put.status).toBe(200);
  return url.body.data.uploadId as string;
}

describe('import under faults', () => {
  it('imports 100,000 rows exactly with 10% of DynamoDB calls throttled and 5% of batch writes partly unprocessed', async () => {
    onTestFailed(() => console.error(`fault seed ${faults.seed} (FAULT_SEED replays it)`, faults.injected()));
    const { api, appId } = await client();
    const campaignId = await draftCampaign(api);
    const csv = audienceCsv(100_000);
    faults.set({
      dynamodb: [
        { operation: 'BatchWriteItem', rate: 0.05, fault: { kind: 'unprocessed', fraction: 0.3 } },
        { rate: 0.1, fault: { kind: 'throttle' } },
      ],
      // The first read of the file is refused twice (the SDK's retries get through).
      s3: [{ operation: 'GetObject', rate: 1, limit: 2, fault: { kind: 'throttle' } }],
    });
    const uploadId = await presignedPut(api, campaignId, csv);
    // Generous: a loaded machine is several times slower; an idle one takes well under a minute.
    const upload = await settledUpload(api, campaignId, uploadId, 400_000);
    const injected = faults.injected();
    faults.clear();

    expect(upload).toMatchObject({
      status: 'completed',
      rowsRead: 100_000,
      uploaded: 100_000,
      rejected: 0,
      duplicates: 0,
    });
    const campaign = (await api.get(`/api/campaigns/${campaignId}`)).body.data;
    expect(campaign.recipientCount).toBe(100_000);
    const { byUser, items } = await storedRecipients(appId, campaignId);
    expect(items).toBe(100_000);
    expectAudience(byUser, 100_000);
    // The faults fired: throttles across operations, and unprocessed items our BatchWriter retried.
    expect(injected['dynamodb:BatchWriteItem:throttle']).toBeGreaterThan(200);
    expect(injected['dynamodb:BatchWriteItem:unprocessed']).toBeGreaterThan(100);
    // …and the importer's other calls (claim, progress, count, complete) and the API's were throttled too.
    const others = Object.entries(injected).filter(
      ([k]) => k.startsWith('dynamodb:') && k.endsWith(':throttle') && !k.includes('BatchWriteItem'),
    );
    expect(others.reduce((n, [, v]) => n + v, 0)).toBeGreaterThan(5);
    expect(injected['s3:GetObject:throttle']).toBe(2);
  }, 450_000);

  it('survives a throttling burst on batch writes that outlasts the SDK retries', async () => {
    onTestFailed(() => console.error(`fault seed ${faults.seed}`, faults.injected()));
    const { api, appId } = await client();
    const campaignId = await draftCampaign(api);
    const csv = audienceCsv(2_000);
    const before = faults.injected()['dynamodb:BatchWriteItem:throttle'] ?? 0;
    // 120 refusals in a row: each of the first calls is refused through all of the SDK's
    // 3 attempts, again and again, more times than Lambda retries the import.
    faults.set({
      dynamodb: [{ operation: 'BatchWriteItem', rate: 1, limit: 120, fault: { kind: 'throttle' } }],
    });
    const uploadId = await presignedPut(api, campaignId, csv);
    const upload = await settledUpload(api, campaignId, uploadId, 120_000);
    const injected = (faults.injected()['dynamodb:BatchWriteItem:throttle'] ?? 0) - before;
    faults.clear();

    expect(injected).toBe(120);
    expect(upload).toMatchObject({ status: 'completed', rowsRead: 2_000, uploaded: 2_000, rejected: 0 });
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(2_000);
    const { byUser, items } = await storedRecipients(appId, campaignId);
    expect(items).toBe(2_000);
    expectAudience(byUser, 2_000);
  }, 150_000);

  it('takes a direct upload whose lock and claim transactions are cancelled by a TransactionConflict', async () => {
    onTestFailed(() => console.error(`fault seed ${faults.seed}`, faults.injected()));
    const { api, appId } = await client();
    const campaignId = await draftCampaign(api);
    const before = faults.injected()['dynamodb:TransactWriteItems:cancel'] ?? 0;
    // The API's lock-and-record transaction is cancelled twice, then the importer's claim once:
    // a conflict with another transaction, not a failed condition (the campaign is free).
    faults.set({
      dynamodb: [{ operation: 'TransactWriteItems', rate: 1, limit: 3, fault: { kind: 'cancel' } }],
    });
    const res = await postUpload(api, uploadForm(campaignId, audienceCsv(1_500)));
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const upload = await settledUpload(api, campaignId, res.body.data.uploadId, 60_000);
    const injected = (faults.injected()['dynamodb:TransactWriteItems:cancel'] ?? 0) - before;
    faults.clear();

    expect(injected).toBe(3);
    expect(upload).toMatchObject({ status: 'completed', rowsRead: 1_500, uploaded: 1_500, duplicates: 0 });
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(1_500);
    const { byUser, items } = await storedRecipients(appId, campaignId);
    expect(items).toBe(1_500);
    expectAudience(byUser, 1_500);
    // The lock went with the completed import: the campaign takes the next upload.
    const next = await api.post(`/api/campaigns/${campaignId}/upload-url`, { contentLength: 10 });
    expect(next.status).toBe(201);
  });
});

describe('S3 events delivered twice and out of order', () => {
  /** The upload's S3 event, as the notification would carry it. */
  const eventOf = (appId: string, campaignId: string, uploadId: string, size: number) => ({
    Records: [
      {
        s3: {
          bucket: { name: process.env.BUCKET_NAME },
          object: { key: `uploads/${appId}/${campaignId}/${uploadId}.csv`, size },
        },
      },
    ],
  });
  const importer = async () => {
    const { handler } = await importCsvFunction();
    return (event: unknown) => handler(event as never, lambdaContext('importCsv', 60));
  };

  /** An upload whose object is in S3 without a notification: the test delivers its events. */
  async function silentUpload(api: Api, appId: string, campaignId: string, csv: string) {
    const url = await api.post(`/api/campaigns/${campaignId}/upload-url`, {
      contentLength: Buffer.byteLength(csv),
    });
    const uploadId = url.body.data.uploadId as string;
    // fauxqs itself, behind the notification proxy: no event.
    const direct = new S3Client({
      endpoint: runtime.current.aws.env.AWS_ENDPOINT_URL_SQS,
      forcePathStyle: true,
    });
    await direct.send(
      new PutObjectCommand({
        Bucket: process.env.BUCKET_NAME,
        Key: `uploads/${appId}/${campaignId}/${uploadId}.csv`,
        Body: csv,
        ContentType: 'text/csv',
      }),
    );
    direct.destroy();
    return { uploadId, event: eventOf(appId, campaignId, uploadId, Buffer.byteLength(csv)) };
  }

  it('imports once when the same event arrives twice at the same time and again later', async () => {
    const { api, appId } = await client();
    const campaignId = await draftCampaign(api);
    const { uploadId, event } = await silentUpload(api, appId, campaignId, audienceCsv(3_000));
    const invoke = await importer();
    const [first, second] = await Promise.allSettled([invoke(event), invoke(event)]);
    // One imports; the other finds it busy and fails, for Lambda to retry later.
    const outcomes = [first.status, second.status].sort();
    expect(outcomes).toEqual(['fulfilled', 'rejected']);
    const busy = [first, second].find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(busy.reason.name).toBe('UploadBusyError');
    await invoke(event); // Lambda's retry of the busy one: nothing left to do.
    await invoke(event);

    const upload = (await api.get(`/api/campaigns/${campaignId}/uploads/${uploadId}`)).body.data;
    expect(upload).toMatchObject({ status: 'completed', rowsRead: 3_000, uploaded: 3_000, duplicates: 0 });
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(3_000);
    const { byUser, items } = await storedRecipients(appId, campaignId);
    expect(items).toBe(3_000);
    expectAudience(byUser, 3_000);
  });

  it('imports once when both claims of an event delivered twice are cancelled by a TransactionConflict', async () => {
    onTestFailed(() => console.error(`fault seed ${faults.seed}`, faults.injected()));
    const { api, appId } = await client();
    const campaignId = await draftCampaign(api);
    const { uploadId, event } = await silentUpload(api, appId, campaignId, audienceCsv(3_000));
    const invoke = await importer();
    const before = faults.injected()['dynamodb:TransactWriteItems:cancel'] ?? 0;
    faults.set({
      dynamodb: [
        // The two claims racing each other are both cancelled, as DynamoDB cancels the
        // loser of a conflict: nothing is written, and no condition was evaluated.
        { operation: 'TransactWriteItems', rate: 1, limit: 2, fault: { kind: 'cancel' } },
        // Slower batch writes keep the import running while the test looks at the lock.
        { operation: 'BatchWriteItem', rate: 1, fault: { kind: 'latency', ms: 100 } },
      ],
    });
    const both = Promise.allSettled([invoke(event), invoke(event)]);
    let status: string | undefined;
    await expect
      .poll(
        async () => {
          status = (await api.get(`/api/campaigns/${campaignId}/uploads/${uploadId}`)).body.data?.status;
          return status;
        },
        { timeout: 30_000, interval: 20 },
      )
      .not.toBe('pending');
    // Neither cancelled claim was read as 'lost the race': the upload is being imported…
    expect(status).toBe('processing');
    // …and holds the campaign's lock, which no one released: another upload is refused.
    const during = await api.post(`/api/campaigns/${campaignId}/upload-url`, { contentLength: 10 });
    expect(during.status).toBe(409);
    const outcomes = await both;
    const injected = (faults.injected()['dynamodb:TransactWriteItems:cancel'] ?? 0) - before;
    faults.clear();
    // One imported; the other, if it failed, found the upload busy (for Lambda to retry).
    expect(outcomes.filter((o) => o.status === 'fulfilled').length).toBeGreaterThanOrEqual(1);
    const unexpected = outcomes.flatMap((o) =>
      o.status === 'rejected' && o.reason?.name !== 'UploadBusyError' ? [String(o.reason)] : [],
    );
    expect(unexpected).toEqual([]);
    await invoke(event); // Lambda's retry of the busy one: nothing left to do.

    expect(injected).toBe(2);
    const upload = (await api.get(`/api/campaigns/${campaignId}/uploads/${uploadId}`)).body.data;
    expect(upload).toMatchObject({ status: 'completed', rowsRead: 3_000, uploaded: 3_000, duplicates: 0 });
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(3_000);
    const { byUser, items } = await storedRecipients(appId, campaignId);
    expect(items).toBe(3_000);
    expectAudience(byUser, 3_000);
    const after = await api.post(`/api/campaigns/${campaignId}/upload-url`, { contentLength: 10 });
    expect(after.status).toBe(201);
  });

  it('never fails an upload whose duplicate event lost the claim to an importer that then handed it back', async () => {
    const { api, appId } = await client();
    const campaignId = await draftCampaign(api);
    const { uploadId, event } = await silentUpload(api, appId, campaignId, audienceCsv(2_000));
    const invoke = await importer();
    const { claimUpload, releaseClaim } = createUploadsStore(runtime.current.table);
    let letReadGo!: () => void;
    const read = new Promise<void>((r) => {
      letReadGo = r;
    });
    let letWritesGo!: () => void;
    const writes = new Promise<void>((r) => {
      letWritesGo = r;
    });
    onTestFailed(() => {
      letReadGo();
      letWritesGo();
    });
    const held = (operation: string) => faults.injected()[`dynamodb:${operation}:hold`] ?? 0;
    const readsHeld = held('GetItem');
    const writesHeld = held('BatchWriteItem');

    // Importer A claims the upload, and with it the campaign's lock.
    expect((await claimUpload(appId, campaignId, uploadId, 'importer-a')).outcome).toBe('claimed');
    // B, the same event delivered again, finds its claim refused (A's lease is live) and is
    // held at the read that follows; B's first write of recipients, if it gets there, is held too.
    faults.set({
      dynamodb: [
        { operation: 'GetItem', rate: 1, limit: 1, fault: { kind: 'hold', until: read } },
        { operation: 'BatchWriteItem', rate: 1, limit: 1, fault: { kind: 'hold', until: writes } },
      ],
    });
    const b = invoke(event).then(
      () => 'returned',
      (error: Error) => `threw ${error.name}: ${error.message}`,
    );
    await expect.poll(() => held('GetItem'), { timeout: 30_000, interval: 10 }).toBe(readsHeld + 1);
    // A hits an error and hands the upload back (pending, the lock still its own), for a retry.
    await releaseClaim(appId, campaignId, uploadId, 'importer-a');
    letReadGo();

    // B finds the upload pending: its claim lost a race, and the campaign refuses nothing.
    let upload: Record<string, unknown> = {};
    await expect
      .poll(
        async () => {
          upload = (await api.get(`/api/campaigns/${campaignId}/uploads/${uploadId}`)).body.data;
          return upload.status;
        },
        { timeout: 30_000, interval: 20 },
      )
      .not.toBe('pending');
    // Not failed with "an import is already running (upload <itself>)": B imports it…
    expect({ status: upload.status, error: upload.error }).toEqual({ status: 'processing' });
    // …holding the campaign's lock, which nobody released under it.
    const during = await api.post(`/api/campaigns/${campaignId}/upload-url`, { contentLength: 10 });
    expect(during.status).toBe(409);
    expect(during.body.error.message).toContain(uploadId);
    await expect.poll(() => held('BatchWriteItem'), { timeout: 30_000, interval: 10 }).toBe(writesHeld + 1);
    letWritesGo();
    expect(await b).toBe('returned');
    faults.clear();
    await invoke(event); // Lambda's retry of A's failed invocation: nothing left to do.

    const done = (await api.get(`/api/campaigns/${campaignId}/uploads/${uploadId}`)).body.data;
    expect(done).toMatchObject({ status: 'completed', rowsRead: 2_000, uploaded: 2_000, duplicates: 0 });
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(2_000);
    const { byUser, items } = await storedRecipients(appId, campaignId);
    expect(items).toBe(2_000);
    expectAudience(byUser, 2_000);
    const after = await api.post(`/api/campaigns/${campaignId}/upload-url`, { contentLength: 10 });
    expect(after.status).toBe(201);
  });

  it("ends exact when two uploads' events arrive swapped, each twice", async () => {
    const { api, appId } = await client();
    const campaignId = await draftCampaign(api);
    const a = await silentUpload(api, appId, campaignId, audienceCsv(1_000, 1));
    const b = await silentUpload(api, appId, campaignId, audienceCsv(1_000, 1_001));
    const invoke = await importer();
    for (const event of [b.event, a.event, b.event, a.event]) await invoke(event);

    for (const upload of [a, b]) {
      const stored = (await api.get(`/api/campaigns/${campaignId}/uploads/${upload.uploadId}`)).body.data;
      expect(stored).toMatchObject({ status: 'completed', rowsRead: 1_000, uploaded: 1_000 });
    }
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(2_000);
    const { byUser, items } = await storedRecipients(appId, campaignId);
    expect(items).toBe(2_000);
    expectAudience(byUser, 2_000);
  });

  it("ignores an old upload's event replayed after a newer upload changed the same recipients", async () => {
    const { api, appId } = await client();
    const campaignId = await draftCampaign(api);
    const older = await silentUpload(
      api,
      appId,
      campaignId,
      audienceCsv(500, 1, (i) => `Old ${i}`),
    );
    const newer = await silentUpload(
      api,
      appId,
      campaignId,
      audienceCsv(500, 251, (i) => `New ${i}`),
    );
    const invoke = await importer();
    await invoke(older.event);
    await invoke(newer.event);
    await invoke(older.event); // the replay, late

    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(750);
    const { byUser, items } = await storedRecipients(appId, campaignId);
    expect(items).toBe(750);
    expectAudience(byUser, 250, 1, (i) => `Old ${i}`);
    expectAudience(byUser, 500, 251, (i) => `New ${i}`);
    const old = (await api.get(`/api/campaigns/${campaignId}/uploads/${older.uploadId}`)).body.data;
    expect(old).toMatchObject({ status: 'completed', uploaded: 500 });
  });
});
