/**
 * Hostile input through the API: every file of the hostile corpus (test/support/
 * hostile-corpus.ts) is uploaded (direct multipart, or the presigned path for a file over
 * the direct limit) and gets exactly its documented error or rejections; a failed file
 * writes nothing ("nothing is half-written"); the runtime stays up; and the importer,
 * which runs in this process, keeps its memory bounded on the 10 MiB line and the
 * 10,000 columns. Then hostile multipart bodies against the direct upload.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_RECORD_BYTES } from '#shared/domain/csv-stream.ts';
import { appPk, uploadSk } from '#shared/domain/keys.ts';
import { FORMULAS, type HostileCase, hostileCorpus } from '#test/support/hostile-corpus.ts';
import { storedRecipients } from '#test/support/recipients.ts';
import { apiClient, type Credentials, newApp, useRuntime } from '#test/support/runtime.ts';
import { draftCampaign, settledUpload } from '#test/support/uploads.ts';

const DIRECT_UPLOAD_MAX_BYTES = 4 * 1024 * 1024;
const runtime = useRuntime({
  env: { DIRECT_UPLOAD_MAX_BYTES: String(DIRECT_UPLOAD_MAX_BYTES), UPLOAD_WAIT_SECONDS: '20' },
});

type Client = ReturnType<typeof apiClient>;

/** Each campaign starts with this recipient, so "unchanged" is a count of 1, not 0. */
const SEED = 'seed-1';

async function client(): Promise<{ api: Client; creds: Credentials }> {
  const creds = await newApp('hostile');
  return { api: apiClient(runtime.current.url, creds), creds };
}

/** A draft campaign with `audienceSchema` and one recipient already in it. */
async function seededCampaign(api: Client): Promise<string> {
  const campaignId = await draftCampaign(api);
  const added = await api.post(`/api/campaigns/${campaignId}/recipients`, {
    userIds: [SEED],
    variables: { [SEED]: { name: 'Seed' } },
  });
  expect(added.status).toBe(200);
  expect(added.body.data.total).toBe(1);
  return campaignId;
}

/** The direct upload's form, with the case's own file name. */
function form(campaignId: string, c: HostileCase, bytes: Buffer): FormData {
  const body = new FormData();
  body.set('campaignId', campaignId);
  body.set('file', new Blob([bytes], { type: 'text/csv' }), c.fileName);
  return body;
}

/**
 * PUTs `bytes` with node:http, which writes the buffer as it is (fetch copies a body
 * several times over, which would show as the importer's memory below).
 */
function putObject(url: string, headers: Record<string, string>, bytes: Buffer): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'PUT', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(bytes);
  });
}

/** A full garbage collection, so that a memory sample starts from live memory only. */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** Samples this process's RSS (after a full collection) until `stop()`, which returns the peak growth. */
function rssSampler() {
  collectGarbage();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage().rss);
      return peak - base;
    },
  };
}

/**
 * Uploads `bytes`: direct when within the limit (the response, and the upload it names),
 * else presigned (the settled upload). Returns the settled upload, or undefined when the
 * direct upload refused the file before storing it (no upload exists then).
 */
async function upload(api: Client, campaignId: string, c: HostileCase, bytes: Buffer) {
  if (bytes.length <= DIRECT_UPLOAD_MAX_BYTES) {
    const res = await api.request<any>('POST', '/api/campaigns/upload', { body: form(campaignId, c, bytes) });
    if (c.expect.kind === 'file-error') {
      expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(400);
      expect(res.body.error.code).toBe('ERR_BAD_REQUEST');
      expect(res.body.error.message).toMatch(c.expect.message);
      // A message a person reads, and a small answer, however many columns the file has.
      expect(res.body.error.message.length).toBeLessThan(500);
      expect(JSON.stringify(res.body).length).toBeLessThan(4096);
      const uploadId = res.body.error.details?.uploadId as string | undefined;
      return uploadId === undefined ? undefined : settledUpload(api, campaignId, uploadId);
    }
    // The settled upload (200), or past the wait its progress (202): the test checks the settled one.
    expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBeOneOf([200, 202]);
    return settledUpload(api, campaignId, res.body.data.uploadId);
  }
  return presignedUpload(api, campaignId, bytes);
}

/** Uploads `bytes` through a presigned URL; the settled upload. */
async function presignedUpload(api: Client, campaignId: string, bytes: Buffer) {
  const url = await api.post(`/api/campaigns/${campaignId}/upload-url`, { contentLength: bytes.length });
  expect(url.status).toBe(201);
  const put = await putObject(url.body.data.url, url.body.data.headers, bytes);
  expect(put).toBe(200);
  return settledUpload(api, campaignId, url.body.data.uploadId);
}

/** What some cases store, beyond their counts: user id -> variables. */
const STORED: Record<string, Record<string, Record<string, unknown>>> = {
  'UTF-8 BOM': { u1: { name: 'Ada', discount: 1, vip: true }, u2: { name: 'Bob', discount: 0, vip: false } },
  'CRLF line endings': {
    u1: { name: 'Ada', discount: 1, vip: true },
    u2: { name: 'Bob', discount: 2, vip: false },
  },
  'quoted newlines and commas': {
    u1: { name: 'Smith, Ada' },
    u2: { name: 'two\nlines' },
    u3: { name: 'say "hi"' },
  },
  'user_id with emoji': { u2: { name: '😀'.repeat(20) } },
  'user_id of 101 characters': { ['y'.repeat(100)]: { name: 'Bob' } },
  'user_id with leading zeros': { '007': { name: 'Ada', discount: 7 }, '7': { name: 'Bob', discount: 7 } },
  'user_id 1e5': { '1e5': { discount: 100_000, vip: true }, '100000': { discount: 1, vip: false } },
  'formula injection': Object.fromEntries(FORMULAS.map((f, i) => [`f${i + 1}`, { name: f }])),
};

/** The importer's memory on these cases is bounded by the record limit, not the file. */
const MEMORY_CASES = new Set(['10 MiB single line', '10,000 columns']);
/**
 * Generous: the importer stops at `MAX_RECORD_BYTES` and holds that record a few times
 * over (the S3 stream's read-ahead, the chunks of the record kept back from csv-parser),
 * while RSS also moves with garbage collection and this process's own HTTP traffic.
 * Measured 10 MiB in a run since csv-stream.ts keeps a long record back as its chunks
 * (12-25 MiB over runs when it fed csv-parser doubling pieces, 30 MiB before that;
 * test/unit/hostile-corpus.test.ts pins the copies down deterministically).
 */
const MEMORY_BOUND = 40 * MAX_RECORD_BYTES;

describe('hostile CSV files through the API', () => {
  const growth: Record<string, number> = {};
  afterAll(() => {
    if (Object.keys(growth).length > 0) console.log('importer RSS growth (MiB):', growth);
  });

  for (const c of hostileCorpus()) {
    it(`${c.name}: ${c.expect.kind === 'file-error' ? 'fails the file' : `imports ${c.expect.imported}, rejects ${c.expect.rejections.length}`}; nothing half-written, runtime up`, async () => {
      const { api, creds } = await client();
      const campaignId = await seededCampaign(api);
      const bytes = c.bytes();

      const sampler = MEMORY_CASES.has(c.name) ? rssSampler() : undefined;
      const settled = await upload(api, campaignId, c, bytes);
      if (sampler) {
        const grew = sampler.stop();
        growth[c.name] = Math.round((grew / 1024 / 1024) * 10) / 10;
        expect(grew, `RSS grew by ${grew} bytes`).toBeLessThan(MEMORY_BOUND);
      }

      const stored = (await storedRecipients(creds.appId, campaignId)).byUser;
      // The runtime is up: a following request succeeds.
      const campaign = await api.get(`/api/campaigns/${campaignId}`);
      expect(campaign.status).toBe(200);

      if (c.expect.kind === 'file-error') {
        // Refused before it was stored (no upload), or stored and failed with the same message.
        const outcome =
          settled === undefined
            ? 'refused before it was stored'
            : settled.status === 'failed' &&
                settled.uploaded === 0 &&
                c.expect.message.test(settled.error?.message)
              ? 'failed with its message'
              : settled;
        expect(outcome).toBeOneOf(['refused before it was stored', 'failed with its message']);
        // Nothing is half-written: only the seed recipient, and the count unchanged.
        expect([...stored.keys()]).toEqual([SEED]);
        expect(campaign.body.data.recipientCount).toBe(1);
        // A file the direct path took is also sent the presigned way, which stores every
        // non-empty file: the importer fails it with the same message, writing nothing.
        if (bytes.length > 0 && bytes.length <= DIRECT_UPLOAD_MAX_BYTES) {
          const presigned = await presignedUpload(api, campaignId, bytes);
          expect(presigned).toMatchObject({
            status: 'failed',
            uploaded: 0,
            error: { code: 'ERR_BAD_REQUEST' },
          });
          expect(presigned.error.message).toMatch(c.expect.message);
          expect([...(await storedRecipients(creds.appId, campaignId)).byUser.keys()]).toEqual([SEED]);
          expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(1);
        }
        return;
      }

      expect(settled).toMatchObject({
        status: 'completed',
        uploaded: c.expect.imported,
        rejected: c.expect.rejections.length,
        duplicates: 0,
      });
      expect(settled.rejections.map((r: { row: number }) => r.row)).toEqual(
        c.expect.rejections.map((r) => r.row),
      );
      c.expect.rejections.forEach((r, i) => {
        expect(settled.rejections[i].reason).toMatch(r.reason);
      });
      expect(stored.size).toBe(c.expect.imported + 1);
      expect(campaign.body.data.recipientCount).toBe(c.expect.imported + 1);
      for (const [userId, variables] of Object.entries(STORED[c.name] ?? {})) {
        expect(stored.get(userId)?.variables, `recipient '${userId}'`).toMatchObject(variables);
      }

      if (c.name === 'formula injection') {
        // Stored as given (above); in the rejections report every user id cell that a
        // spreadsheet would run as a formula starts with an apostrophe.
        const report = await fetch(settled.rejectionsReportUrl);
        expect(report.status).toBe(200);
        const lines = (await report.text()).split('\r\n');
        expect(lines[0]).toBe('row,user_id,reason');
        const byRow = new Map(lines.slice(1).map((line) => [line.slice(0, line.indexOf(',')), line]));
        const ids: Record<number, string> = {
          6: FORMULAS[0],
          7: '+1+1',
          8: '-2+3',
          9: '@SUM(A1)',
          10: '-1',
          11: '@me',
        };
        for (const [row, id] of Object.entries(ids)) {
          expect(byRow.get(row), `report row ${row}`).toMatch(
            new RegExp(`^${row},'${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')},`),
          );
        }
      }
    });
  }
});

/**
 * Many bad cells in every row, against a template of 50 number variables with 64-character
 * names (the most a template may have). Unbounded, each row's reason named every bad cell
 * (about 6.6 KB a row here): 100 of them on the upload item went past DynamoDB's 400 KB, so
 * the upload never completed; and the report grew to about 45 times the file.
 */
describe('rows with many bad cells', () => {
  const KEYS = Array.from({ length: 50 }, (_, i) => `n${String(i + 1).padStart(2, '0')}_${'k'.repeat(60)}`);
  const schema = Object.fromEntries(KEYS.map((key) => [key, { type: 'number' }]));
  /** docs/csv.md: what the upload item keeps, what a row's reason names, what a report line costs. */
  const KEPT_REJECTIONS = 100;
  const KEPT_REJECTIONS_BYTES = 64 * 1024;
  const NAMED_PROBLEMS = 5;
  const REPORT_BYTES_PER_ROW = 2048;

  const fileOf = (rows: number, cell: (row: number, column: number) => string) =>
    Buffer.from(
      [
        ['user_id', ...KEYS].join(','),
        ...Array.from({ length: rows }, (_, r) => [`r${r + 1}`, ...KEYS.map((_, c) => cell(r, c))].join(',')),
        '',
      ].join('\n'),
    );

  it('completes with every row rejected by name, values cut to 40 characters, and a bounded upload item', async () => {
    const { api, creds } = await client();
    const campaignId = await draftCampaign(api, schema);
    const rows = 150;
    const settled = await presignedUpload(
      api,
      campaignId,
      fileOf(rows, (r, c) => `${r}x${c}-${'v'.repeat(200)}`),
    );
    expect(settled).toMatchObject({ status: 'completed', rowsRead: rows, uploaded: 0, rejected: rows });

    // The first rejections in file order, as many as fit 100 and 64 KiB.
    const kept = settled.rejections as { row: number; userId: string; reason: string }[];
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThanOrEqual(KEPT_REJECTIONS);
    expect(kept.map((r) => r.row)).toEqual(Array.from({ length: kept.length }, (_, i) => i + 2));
    const keptBytes = kept.reduce((n, r) => n + Buffer.byteLength(r.userId) + Buffer.byteLength(r.reason), 0);
    expect(keptBytes).toBeLessThanOrEqual(KEPT_REJECTIONS_BYTES);
    for (const [i, r] of kept.entries()) {
      expect(r.userId).toBe(`r${i + 1}`);
      // The first 5 problems by column, each with the rule and the value cut to 40 characters.
      const value = `${i}x0-${'v'.repeat(200)}`.slice(0, 40);
      expect(r.reason.startsWith(`${KEYS[0]}: expected a number, got '${value}…'; `), r.reason).toBe(true);
      expect(r.reason).toContain(`${KEYS[NAMED_PROBLEMS - 1]}: expected a number, got '`);
      expect(r.reason).not.toContain(KEYS[NAMED_PROBLEMS] as string);
      expect(r.reason).toMatch(
        /; and 45 more problems in other columns of this row: fix these, then upload the file again$/,
      );
    }

    // The stored item, straight from the table, stays far under DynamoDB's 400 KB.
    const { client: documents, tableName } = runtime.current.table;
    const { Item } = await documents.send(
      new GetCommand({
        TableName: tableName,
        Key: { pk: appPk(creds.appId), sk: uploadSk(campaignId, settled.uploadId) },
      }),
    );
    expect(Item?.status).toBe('completed');
    expect(Buffer.byteLength(JSON.stringify(Item))).toBeLessThan(KEPT_REJECTIONS_BYTES + 8 * 1024);

    // The report holds every rejected row, with the same bounded reason.
    const report = await fetch(settled.rejectionsReportUrl);
    expect(report.status).toBe(200);
    const reportLines = (await report.text()).split('\r\n');
    expect(reportLines[0]).toBe('row,user_id,reason');
    expect(reportLines.slice(1, -1)).toHaveLength(rows);
    // Quoted, as the reason holds a comma.
    expect(reportLines[rows]).toMatch(new RegExp(`^${rows + 1},r${rows},"${KEYS[0]}: expected a number`));
    expect(reportLines[rows]).toContain('; and 45 more problems in other columns of this row');
  });

  it('keeps the report within 2 KiB per rejected row, however short the bad cells', async () => {
    const { api } = await client();
    const campaignId = await draftCampaign(api, schema);
    const rows = 2000;
    // One-character bad cells: each named problem costs far more than the cell it names.
    const bytes = fileOf(rows, () => 'x');
    const settled = await presignedUpload(api, campaignId, bytes);
    expect(settled).toMatchObject({ status: 'completed', rowsRead: rows, uploaded: 0, rejected: rows });
    const report = Buffer.from(await (await fetch(settled.rejectionsReportUrl)).arrayBuffer());
    expect(report.toString('utf8').split('\r\n').slice(1, -1)).toHaveLength(rows);
    // The header line, then at most 2 KiB a row; unbounded, 9.4 MB here (44 times the file).
    expect(report.length).toBeLessThanOrEqual(20 + rows * REPORT_BYTES_PER_ROW);
  });
});

/**
 * A raw HTTP/1.1 request on its own socket: `headers` as given (no Content-Length is
 * added), `body`, then `end` ('half-close' sends FIN and still reads the answer;
 * 'destroy' drops the connection). Resolves with everything the server sent back.
 */
function rawRequest(
  path: string,
  headers: Record<string, string>,
  body: Buffer,
  end: 'keep' | 'half-close' | 'destroy',
): Promise<string> {
  const { port } = new URL(runtime.current.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      // One complete response is enough when the connection stays open.
      if (end === 'keep' && /\r\n\r\n[\s\S]*\}$/.test(Buffer.concat(received).toString('latin1')))
        socket.end();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET') resolve(Buffer.concat(received).toString('utf8'));
      else reject(error);
    });
    socket.on('close', () => resolve(Buffer.concat(received).toString('utf8')));
    socket.on('connect', () => {
      const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
      socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${head.join('')}\r\n`);
      socket.write(body);
      if (end === 'half-close') socket.end();
      else if (end === 'destroy') setTimeout(() => socket.destroy(), 200);
    });
  });
}

/** Status and JSON body of the first response in `raw`. */
function firstResponse(raw: string): { status: number; body: any } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
  const start = raw.indexOf('\r\n\r\n') + 4;
  const json = /^\{.*?\}\}(?=HTTP\/|$)/s.exec(raw.slice(start))?.[0];
  return { status, body: json === undefined ? undefined : JSON.parse(json) };
}

/** A multipart body as bytes, with its content type. */
async function encoded(body: FormData): Promise<{ bytes: Buffer; contentType: string }> {
  const req = new Request('http://local/', { method: 'POST', body });
  return {
    bytes: Buffer.from(await req.arrayBuffer()),
    contentType: req.headers.get('content-type') as string,
  };
}

describe('hostile multipart bodies against POST /api/campaigns/upload', () => {
  const csv = 'user_id,name\nu1,Ada\nu2,Bob\n';

  /** Nothing of the refused request is left: no recipient, no import lock (a valid upload goes through). */
  async function nothingWritten(api: Client, creds: Credentials, campaignId: string) {
    expect([...(await storedRecipients(creds.appId, campaignId)).byUser.keys()]).toEqual([SEED]);
    const campaign = await api.get(`/api/campaigns/${campaignId}`);
    expect(campaign.status).toBe(200);
    expect(campaign.body.data.recipientCount).toBe(1);
    const form = new FormData();
    form.set('campaignId', campaignId);
    form.set('file', new Blob([csv]), 'audience.csv');
    const ok = await api.request<any>('POST', '/api/campaigns/upload', { body: form });
    expect(ok.status).toBe(200);
    expect(ok.body.data).toMatchObject({ status: 'completed', uploaded: 2, total: 3 });
  }

  async function refused(form: (campaignId: string) => FormData, message: string, field?: string) {
    const { api, creds } = await client();
    const campaignId = await seededCampaign(api);
    const res = await api.request<any>('POST', '/api/campaigns/upload', { body: form(campaignId) });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'ERR_BAD_REQUEST', message });
    if (field !== undefined) expect(res.body.error.details.field).toBe(field);
    await nothingWritten(api, creds, campaignId);
  }

  it('two files: 400 naming the field, nothing written', async () => {
    await refused(
      (campaignId) => {
        const form = new FormData();
        form.set('campaignId', campaignId);
        form.append('file', new Blob([csv]), 'a.csv');
        form.append('file', new Blob([csv]), 'b.csv');
        return form;
      },
      "Send exactly one file in the field 'file'.",
      'file',
    );
  });

  it('no file: 400 naming the field, nothing written', async () => {
    await refused(
      (campaignId) => {
        const form = new FormData();
        form.set('campaignId', campaignId);
        return form;
      },
      "No file: send the CSV in the form field 'file'.",
      'file',
    );
  });

  it('the file under a wrong field name: 400 naming both names, nothing written', async () => {
    await refused(
      (campaignId) => {
        const form = new FormData();
        form.set('campaignId', campaignId);
        form.set('csv', new Blob([csv]), 'audience.csv');
        return form;
      },
      "The CSV must be sent in the form field 'file', not 'csv'.",
      'csv',
    );
  });

  it('no campaignId field: 400 naming the field, nothing written', async () => {
    await refused(
      () => {
        const form = new FormData();
        form.set('file', new Blob([csv]), 'audience.csv');
        return form;
      },
      "Missing form field 'campaignId'.",
      'campaignId',
    );
  });

  it('a body that is not multipart: 400 naming the content type to send, nothing written', async () => {
    const { api, creds } = await client();
    const campaignId = await seededCampaign(api);
    for (const [contentType, body] of [
      ['text/csv', csv],
      ['application/json', JSON.stringify({ campaignId, file: csv })],
      ['multipart/form-data', csv],
    ] as const) {
      const res = await api.request<any>('POST', '/api/campaigns/upload', {
        body,
        headers: { 'content-type': contentType },
      });
      expect(res.status, contentType).toBe(400);
      expect(res.body.error).toMatchObject({
        code: 'ERR_BAD_REQUEST',
        message: `Content-Type must be multipart/form-data with a boundary, got '${contentType}'; send the CSV as the form field 'file' and the campaign id as 'campaignId'.`,
      });
    }
    await nothingWritten(api, creds, campaignId);
  });

  it('a Content-Length larger than the body sent, then the connection closed: nothing written, the runtime stays up', async () => {
    const { api, creds } = await client();
    const campaignId = await seededCampaign(api);
    const form = new FormData();
    form.set('campaignId', campaignId);
    form.set('file', new Blob([csv]), 'audience.csv');
    const { bytes, contentType } = await encoded(form);
    const headers = {
      appId: creds.appId,
      apiKey: creds.apiKey,
      'Content-Type': contentType,
      'Content-Length': String(bytes.length + 1000),
    };
    // Half-closed: the client can still read the answer, a 400 saying what went wrong.
    const answer = firstResponse(await rawRequest('/api/campaigns/upload', headers, bytes, 'half-close'));
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({
      code: 'ERR_BAD_REQUEST',
      message:
        'The connection was closed before the request body reached the length its Content-Length header announced; send the whole body, with a Content-Length equal to its size in bytes.',
    });
    // Dropped: nobody to answer; the runtime carries on.
    await rawRequest('/api/campaigns/upload', headers, bytes, 'destroy');
    await nothingWritten(api, creds, campaignId);
  });

  it('a Content-Length smaller than the body sent: 400 naming the Content-Length, nothing written, the runtime stays up', async () => {
    const { api, creds } = await client();
    const campaignId = await seededCampaign(api);
    const form = new FormData();
    form.set('campaignId', campaignId);
    form.set('file', new Blob([csv]), 'audience.csv');
    const { bytes, contentType } = await encoded(form);
    const declared = bytes.length - 40;
    const raw = await rawRequest(
      '/api/campaigns/upload',
      {
        appId: creds.appId,
        apiKey: creds.apiKey,
        'Content-Type': contentType,
        'Content-Length': String(declared),
      },
      bytes,
      'keep',
    );
    const answer = firstResponse(raw);
    // The server reads `declared` bytes as the body (a cut multipart form: refused, nothing
    // stored) and the rest as a next request, which is not HTTP: the answer says why.
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({
      code: 'ERR_BAD_REQUEST',
      message:
        "The request is not valid HTTP/1.1 (HPE_INVALID_METHOD); if it followed another request on this connection, that request's Content-Length was smaller than its body: send a Content-Length equal to the body's size in bytes.",
    });
    await nothingWritten(api, creds, campaignId);
  });
});
