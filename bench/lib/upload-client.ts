/**
 * The API client of the load test's upload phase: one CSV upload to one campaign by
 * direct multipart upload, waited for until it settles, and checked exact. Runs in the
 * load worker thread (see `load-worker.ts`), not beside the server.
 *
 * Direct, because that is what docs/api.md says a file of this size takes: the largest CSV
 * the API accepts, 100,000 audience rows, is 2.8 MB, under the 4 MiB direct-upload limit.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fetchFailure } from './loopback.ts';

/** docs/api.md's direct-upload limit (`DIRECT_UPLOAD_MAX_BYTES`' default). */
export const DIRECT_UPLOAD_MAX_BYTES = 4 * 1024 * 1024;

/** A request unanswered this long is an error (a direct upload waits up to 20 s for its import). */
const REQUEST_TIMEOUT_MS = 60_000;
/** An upload not settled this long after it was sent is an error (the importer's Lambda timeout). */
const SETTLE_TIMEOUT_MS = 900_000;

export class RequestError extends Error {
  override name = 'RequestError';
  readonly kind: string;
  constructor(kind: string, message: string) {
    super(message);
    this.kind = kind;
  }
}

interface Answer {
  status: number;
  body: any;
}

export function client(baseUrl: string, credentials: { appId: string; apiKey: string }) {
  return async function call(
    method: string,
    path: string,
    init: { json?: unknown; form?: FormData; expect: number[] },
  ): Promise<Answer> {
    const headers: Record<string, string> = { ...credentials };
    let body: RequestInit['body'] = init.form;
    if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${baseUrl}${path}`, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      text = await res.text();
    } catch (error) {
      const failure = fetchFailure(error);
      throw new RequestError(failure.kind, `${method} ${path}: ${failure.message}`);
    }
    if (!init.expect.includes(res.status)) {
      throw new RequestError(String(res.status), `${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    }
    try {
      return { status: res.status, body: JSON.parse(text) };
    } catch {
      throw new RequestError('mismatch', `${method} ${path}: not JSON: ${text.slice(0, 300)}`);
    }
  };
}

export type Call = ReturnType<typeof client>;

/** One upload as the client saw it. */
export interface UploadOutcome {
  campaignId: string;
  uploadId?: string;
  ms: number;
  /** Why it failed: `kind` is an HTTP status, `timeout`, `network <code>`, `upload failed (<code>)`… */
  error?: { kind: string; message: string };
  /** Set when the upload settled but is not exact: what was found. */
  inexact?: string;
}

/** Polls the upload until it is completed or failed. */
async function settle(call: Call, campaignId: string, uploadId: string, started: number): Promise<any> {
  for (;;) {
    const { body } = await call('GET', `/api/campaigns/${campaignId}/uploads/${uploadId}`, { expect: [200] });
    if (body.data.status === 'completed' || body.data.status === 'failed') return body.data;
    if (performance.now() - started > SETTLE_TIMEOUT_MS) {
      throw new RequestError(
        'not settled',
        `upload ${uploadId} still ${body.data.status} after ${SETTLE_TIMEOUT_MS} ms`,
      );
    }
    await sleep(250);
  }
}

/** Uploads `csv` to the campaign, waits for it to settle, and checks that it is exact. */
export async function uploadOne(
  call: Call,
  campaignId: string,
  csv: Buffer,
  rows: number,
): Promise<UploadOutcome> {
  const started = performance.now();
  let uploadId: string | undefined;
  try {
    let answeredTotal: number | undefined;
    const form = new FormData();
    form.set('campaignId', campaignId);
    form.set('file', new Blob([csv], { type: 'text/csv' }), 'audience.csv');
    const res = await call('POST', '/api/campaigns/upload', { form, expect: [200, 202] });
    uploadId = res.body.data.uploadId as string;
    if (res.status === 200) answeredTotal = res.body.data.total as number;
    const upload = await settle(call, campaignId, uploadId, started);
    const ms = performance.now() - started;
    if (upload.status === 'failed') {
      throw new RequestError(
        `upload failed (${upload.error?.code})`,
        `upload ${uploadId} failed: ${upload.error?.message}`,
      );
    }
    const campaign = await call('GET', `/api/campaigns/${campaignId}`, { expect: [200] });
    const found = {
      rowsRead: upload.rowsRead,
      uploaded: upload.uploaded,
      rejected: upload.rejected,
      duplicates: upload.duplicates,
      recipientCount: campaign.body.data.recipientCount,
      ...(answeredTotal === undefined ? {} : { answeredTotal }),
    };
    const exact =
      found.rowsRead === rows &&
      found.uploaded === rows &&
      found.rejected === 0 &&
      found.duplicates === 0 &&
      found.recipientCount === rows &&
      (answeredTotal === undefined || answeredTotal === rows);
    return { campaignId, uploadId, ms, ...(exact ? {} : { inexact: JSON.stringify(found) }) };
  } catch (error) {
    const failure =
      error instanceof RequestError
        ? { kind: error.kind, message: error.message }
        : { kind: 'bench', message: `${(error as Error).stack}` };
    return { campaignId, ...(uploadId ? { uploadId } : {}), ms: performance.now() - started, error: failure };
  }
}
