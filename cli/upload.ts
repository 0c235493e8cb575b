/**
 * Uploading a CSV file to a campaign, as docs/api.md describes: a direct multipart upload up to
 * the direct-upload limit (4 MiB by default), a presigned PUT straight to S3 above it (or when
 * the API answers 413 because its limit is lower). A bar counts the bytes sent, then another
 * the rows imported (polling the upload's status), and a rejections report is downloaded.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ApiClient, ApiError } from './api.ts';
import { ProgressBar } from './progress.ts';

/** The API's default `DIRECT_UPLOAD_MAX_BYTES` (docs/api.md). */
export const DIRECT_UPLOAD_MAX_BYTES = 4 * 1024 * 1024;

export interface UploadStatus {
  uploadId: string;
  campaignId: string;
  source: 'direct' | 'presigned';
  status: 'pending' | 'processing' | 'completed' | 'failed';
  rowsRead: number;
  uploaded: number;
  rejected: number;
  duplicates: number;
  error?: { code: string; message: string };
  rejections: { row: number; userId: string; reason: string }[];
  rejectionsReportUrl?: string;
}

export interface UploadResult {
  file: string;
  bytes: number;
  path: 'direct' | 'presigned';
  uploadId: string;
  status: UploadStatus['status'];
  rowsRead: number;
  imported: number;
  rejected: number;
  duplicates: number;
  /** The campaign's recipients after the upload. */
  recipientCount: number;
  error?: { code: string; message: string };
  /** Where the full rejections report was saved, when rows were rejected. */
  rejectionsReport?: string;
  /** The first 100 rejections, as the API keeps them. */
  rejections: UploadStatus['rejections'];
  /** Milliseconds: sending the bytes, and from the last byte sent to the import settled. */
  uploadMs: number;
  importMs: number;
}

export interface UploadOptions {
  campaignId: string;
  /** Show progress bars (on stderr). */
  progress: boolean;
  directMaxBytes?: number;
  /** Where to save the rejections report; default `rejections-<uploadId>.csv` in the working directory. */
  reportPath?: string;
  /** Status polling interval. */
  pollMs?: number;
}

/** Reads the file in chunks, counting its line breaks (for the import bar's total). */
async function* counted(file: string, lines: { n: number; last: number }): AsyncIterable<Uint8Array> {
  for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
    let i = chunk.indexOf(0x0a);
    while (i !== -1) {
      lines.n++;
      i = chunk.indexOf(0x0a, i + 1);
    }
    if (chunk.length > 0) lines.last = chunk[chunk.length - 1] as number;
    yield chunk;
  }
}

async function* multipart(
  head: string,
  file: string,
  tail: string,
  lines: { n: number; last: number },
): AsyncIterable<Uint8Array> {
  yield Buffer.from(head);
  yield* counted(file, lines);
  yield Buffer.from(tail);
}

export async function uploadFile(
  client: ApiClient,
  file: string,
  options: UploadOptions,
): Promise<UploadResult> {
  const { campaignId } = options;
  const bytes = (await stat(file)).size;
  const directMax = options.directMaxBytes ?? DIRECT_UPLOAD_MAX_BYTES;
  const lines = { n: 0, last: 0x0a };
  const started = performance.now();
  let uploadId: string;
  let path: 'direct' | 'presigned' = bytes <= directMax ? 'direct' : 'presigned';
  let settled: UploadStatus | undefined;
  let sentAt = started;

  const bar = new ProgressBar('upload', bytes, { enabled: options.progress, unit: 'bytes' });
  if (path === 'direct') {
    const boundary = `campaigns-${randomBytes(12).toString('hex')}`;
    const head =
      `--${boundary}\r\nContent-Disposition: form-data; name="campaignId"\r\n\r\n${campaignId}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${basename(file).replaceAll('"', '')}"\r\n` +
      'Content-Type: text/csv\r\n\r\n';
    const tail = `\r\n--${boundary}--\r\n`;
    const headBytes = Buffer.byteLength(head);
    try {
      const answer = await client.sendToApi<{ data: { uploadId: string; status: string } }>(
        'POST',
        '/api/campaigns/upload',
        multipart(head, file, tail, lines),
        {
          length: headBytes + bytes + Buffer.byteLength(tail),
          headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
          onProgress: (sent) => {
            const fileBytes = Math.max(0, Math.min(bytes, sent - headBytes));
            bar.update(fileBytes, {
              note: fileBytes === bytes ? 'importing (the API answers when done)' : '',
            });
            if (fileBytes === bytes) sentAt = performance.now();
          },
        },
      );
      uploadId = answer.body.data.uploadId;
      bar.finish(answer.body.data.status === 'completed' ? 'imported' : 'import still running');
    } catch (error) {
      // The API's direct limit is lower than ours: take the presigned path instead.
      if (!(error instanceof ApiError && error.code === 'ERR_PAYLOAD_TOO_LARGE')) {
        bar.finish('failed');
        throw error;
      }
      bar.finish('over the API direct-upload limit: using a presigned upload');
      path = 'presigned';
      lines.n = 0;
      uploadId = '';
    }
  } else {
    uploadId = '';
  }

  if (path === 'presigned') {
    const grant = await client.data<{
      uploadId: string;
      url: string;
      method: string;
      headers: Record<string, string>;
    }>('POST', `/api/campaigns/${encodeURIComponent(campaignId)}/upload-url`, { contentLength: bytes });
    uploadId = grant.uploadId;
    const put = new ProgressBar('upload', bytes, { enabled: options.progress, unit: 'bytes' });
    const { status, text } = await client.send(grant.method, grant.url, counted(file, lines), {
      length: bytes,
      headers: grant.headers,
      onProgress: (sent) => put.update(sent, { note: 'presigned PUT to S3' }),
    });
    if (status < 200 || status >= 300) {
      put.finish('failed');
      throw new ApiError(
        status,
        'ERR_UPLOAD_PUT',
        `The presigned PUT failed with HTTP ${status}: ${text.slice(0, 300)}`,
      );
    }
    put.finish('sent');
    sentAt = performance.now();
  }

  // Data rows in the file, counting a last line without a line break (blank lines make it an upper bound).
  const rows = Math.max(0, lines.n - 1 + (lines.last === 0x0a ? 0 : 1));
  const importBar = new ProgressBar('import', rows, { enabled: options.progress, unit: 'rows' });
  const statusPath = `/api/campaigns/${encodeURIComponent(campaignId)}/uploads/${encodeURIComponent(uploadId)}`;
  for (;;) {
    const current = await client.data<UploadStatus>('GET', statusPath);
    if (current.status === 'completed' || current.status === 'failed') {
      settled = current;
      importBar.finish(current.status, current.rowsRead);
      break;
    }
    importBar.update(current.rowsRead, {
      note: current.rowsRead === 0 ? 'validating the whole file first' : `${current.rejected} rejected`,
    });
    await sleep(options.pollMs ?? 250);
  }
  const importMs = performance.now() - sentAt;

  const campaign = await client.data<{ recipientCount: number }>(
    'GET',
    `/api/campaigns/${encodeURIComponent(campaignId)}`,
  );
  let rejectionsReport: string | undefined;
  if (settled.status === 'completed' && settled.rejected > 0 && settled.rejectionsReportUrl) {
    rejectionsReport = resolve(options.reportPath ?? `rejections-${uploadId}.csv`);
    const res = await fetch(settled.rejectionsReportUrl);
    if (!res.ok)
      throw new ApiError(
        res.status,
        'ERR_REPORT',
        `Downloading the rejections report failed with HTTP ${res.status}.`,
      );
    await writeFile(rejectionsReport, Buffer.from(await res.arrayBuffer()));
  }
  return {
    file,
    bytes,
    path,
    uploadId,
    status: settled.status,
    rowsRead: settled.rowsRead,
    imported: settled.uploaded,
    rejected: settled.rejected,
    duplicates: settled.duplicates,
    recipientCount: campaign.recipientCount,
    ...(settled.error ? { error: settled.error } : {}),
    ...(rejectionsReport ? { rejectionsReport } : {}),
    rejections: settled.rejections,
    uploadMs: sentAt - started,
    importMs,
  };
}
