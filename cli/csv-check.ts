/**
 * `campaigns csv check`: a local file checked by the importer's own code. It runs
 * `importUpload` (shared/domain/import-upload.ts) — the validating pass and then the
 * rejection-reporting pass the S3-triggered importer runs — with ports that read the local
 * file and write nothing. So the file-level error, the rejected rows (row, user id, reason)
 * and the counts are the ones an upload of the same file to a campaign with the same
 * template would report.
 *
 * With `--remote` (`checkCsvRemote`) the file is checked by the API's dry run instead,
 * against a campaign: the importer itself, on the deployed code, adding nothing; its
 * answer adds what it detected of the file and a rendered preview of the first valid rows.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CsvDetected } from '#shared/domain/csv-stream.ts';
import type { PreviewEntry } from '#shared/domain/dry-run.ts';
import { importUpload } from '#shared/domain/import-upload.ts';
import type { Rejection, VariableSchema } from '#shared/domain/model.ts';
import { type ApiClient, ApiError } from './api.ts';

export interface CsvCheckResult {
  ok: boolean;
  /** A file-level problem: the whole upload would fail and add nobody. */
  error?: { code: string; message: string };
  rowsRead: number;
  /** Rows the import would add. */
  valid: number;
  rejected: number;
  duplicates: number;
  /** Every rejected row, in file order. */
  rejections: Rejection[];
}

export async function checkCsvFile(file: string, schema: VariableSchema): Promise<CsvCheckResult> {
  const rejections: Rejection[] = [];
  const nothing = async () => undefined;
  const outcome = await importUpload(
    {
      open: async () => createReadStream(file) as AsyncIterable<Uint8Array>,
      writeBatch: nothing,
      flush: nothing,
      progress: nothing,
      heartbeat: nothing,
      addRejection: (rejection) => {
        rejections.push(rejection);
      },
    },
    schema,
  );
  if (!outcome.ok) {
    return {
      ok: false,
      error: outcome.error,
      rowsRead: 0,
      valid: 0,
      rejected: 0,
      duplicates: 0,
      rejections: [],
    };
  }
  const { totals } = outcome;
  return {
    ok: totals.rejected === 0,
    rowsRead: totals.rowsRead,
    valid: totals.valid,
    rejected: totals.rejected,
    duplicates: totals.duplicates,
    rejections,
  };
}

// --- `csv check --remote`: the API's dry run of an upload (docs/api.md, "Dry run") ---

/** What the API's dry run adds to the local check's answer. */
export interface RemoteCheckResult extends CsvCheckResult {
  campaignId: string;
  /** How the file reached the dry run: the direct upload, or a presigned PUT (over the direct limit). */
  path: 'direct' | 'presigned';
  /** The presigned dry run's upload record (the direct one stores nothing). */
  uploadId?: string;
  detected?: CsvDetected;
  preview?: PreviewEntry[];
}

interface DryRunAnswer {
  status: 'pending' | 'processing' | 'completed' | 'failed';
  rowsRead: number;
  uploaded: number;
  rejected: number;
  duplicates: number;
  rejections: Rejection[];
  error?: { code: string; message: string };
  detected?: CsvDetected;
  preview?: PreviewEntry[];
}

function fromDryRun(
  answer: DryRunAnswer,
  base: Pick<RemoteCheckResult, 'campaignId' | 'path' | 'uploadId'>,
): RemoteCheckResult {
  if (answer.status === 'failed' || answer.error) {
    return {
      ...base,
      ok: false,
      error: answer.error ?? { code: 'ERR_OPERATION_FAILED', message: 'The dry run failed.' },
      rowsRead: 0,
      valid: 0,
      rejected: 0,
      duplicates: 0,
      rejections: [],
    };
  }
  return {
    ...base,
    ok: answer.rejected === 0,
    rowsRead: answer.rowsRead,
    valid: answer.uploaded,
    rejected: answer.rejected,
    duplicates: answer.duplicates,
    rejections: answer.rejections,
    ...(answer.detected ? { detected: answer.detected } : {}),
    ...(answer.preview ? { preview: answer.preview } : {}),
  };
}

/**
 * Checks `file` against a campaign with the API's dry run: the direct upload with
 * `?dryRun=true` up to `directMaxBytes` (or until the API answers 413), a presigned
 * dry run above it, polled until settled. Nothing is added to the campaign. A file-level
 * error is an `ok: false` result; any other API error is thrown.
 */
export async function checkCsvRemote(
  client: ApiClient,
  file: string,
  options: { campaignId: string; directMaxBytes: number; pollMs?: number },
): Promise<RemoteCheckResult> {
  const { campaignId } = options;
  const bytes = (await stat(file)).size;
  const campaignPath = `/api/campaigns/${encodeURIComponent(campaignId)}`;
  if (bytes <= options.directMaxBytes) {
    const boundary = `campaigns-${randomBytes(12).toString('hex')}`;
    const head =
      `--${boundary}\r\nContent-Disposition: form-data; name="campaignId"\r\n\r\n${campaignId}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${basename(file).replaceAll('"', '')}"\r\n` +
      'Content-Type: text/csv\r\n\r\n';
    const tail = `\r\n--${boundary}--\r\n`;
    async function* body(): AsyncIterable<Uint8Array> {
      yield Buffer.from(head);
      yield* createReadStream(file) as AsyncIterable<Uint8Array>;
      yield Buffer.from(tail);
    }
    try {
      const answer = await client.sendToApi<{ data: DryRunAnswer }>(
        'POST',
        '/api/campaigns/upload?dryRun=true',
        body(),
        {
          length: Buffer.byteLength(head) + bytes + Buffer.byteLength(tail),
          headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
        },
      );
      return fromDryRun(answer.body.data, { campaignId, path: 'direct' });
    } catch (error) {
      if (error instanceof ApiError && error.status === 400 && error.code === 'ERR_BAD_REQUEST') {
        return fromDryRun(
          {
            status: 'failed',
            error: { code: error.code, message: error.message },
            rowsRead: 0,
            uploaded: 0,
            rejected: 0,
            duplicates: 0,
            rejections: [],
          },
          { campaignId, path: 'direct' },
        );
      }
      // The API's direct limit is lower than ours: take the presigned path instead.
      if (!(error instanceof ApiError && error.code === 'ERR_PAYLOAD_TOO_LARGE')) throw error;
    }
  }
  const grant = await client.data<{
    uploadId: string;
    url: string;
    method: string;
    headers: Record<string, string>;
  }>('POST', `${campaignPath}/upload-url`, { contentLength: bytes, dryRun: true });
  const put = await client.send(
    grant.method,
    grant.url,
    createReadStream(file) as AsyncIterable<Uint8Array>,
    {
      length: bytes,
      headers: grant.headers,
    },
  );
  if (put.status < 200 || put.status >= 300) {
    throw new ApiError(
      put.status,
      'ERR_UPLOAD_PUT',
      `The presigned PUT failed with HTTP ${put.status}: ${put.text.slice(0, 300)}`,
    );
  }
  const statusPath = `${campaignPath}/uploads/${encodeURIComponent(grant.uploadId)}`;
  for (;;) {
    const current = await client.data<DryRunAnswer>('GET', statusPath);
    if (current.status === 'completed' || current.status === 'failed') {
      return fromDryRun(current, { campaignId, path: 'presigned', uploadId: grant.uploadId });
    }
    await sleep(options.pollMs ?? 250);
  }
}
