/**
 * `campaigns recipients export`: a campaign's recipients as CSV (docs/cli.md). The API
 * answers a small export inline (`200 text/csv`); a large one with `202` and an export
 * job, which this follows by polling, with the rows written shown on stderr, then
 * downloads from the presigned URL. Either way the CSV is streamed to `out` as it
 * arrives, never held whole in memory.
 */
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ApiClient, ApiError, type CampaignView } from './api.ts';
import { ProgressBar } from './progress.ts';

export interface ExportJobView {
  exportId: string;
  status: 'running' | 'ready' | 'failed';
  rows: number;
  url?: string;
  error?: string;
}

export interface ExportResult {
  campaignId: string;
  /** `inline` (the API's answer) or `job` (an export job, downloaded from S3). */
  via: 'inline' | 'job';
  exportId?: string;
  rows: number;
  bytes: number;
}

/** How often a running export is asked about. */
export const EXPORT_POLL_MS = 500;

/** Streams `body` to `out` (left open when it is stdout), counting bytes. */
async function streamTo(
  body: ReadableStream<Uint8Array> | null,
  out: Writable,
  onBytes?: (bytes: number) => void,
): Promise<number> {
  if (!body) return 0;
  let bytes = 0;
  const counted = Readable.fromWeb(body as WebReadableStream<Uint8Array>).on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    onBytes?.(bytes);
  });
  await pipeline(counted, out, { end: out !== process.stdout });
  return bytes;
}

export async function exportRecipients(
  api: ApiClient,
  campaignId: string,
  options: { status?: string; out: Writable; progress: boolean },
): Promise<ExportResult> {
  const id = encodeURIComponent(campaignId);
  const query = options.status === undefined ? '' : `?status=${encodeURIComponent(options.status)}`;
  const res = await api.fetchRaw(`/api/campaigns/${id}/recipients/export${query}`);
  if (res.status === 200) {
    const rows = Number(res.headers.get('x-export-rows') ?? 0);
    const bytes = await streamTo(res.body, options.out);
    return { campaignId, via: 'inline', rows, bytes };
  }

  const started = (await res.json()) as { data: { exportId: string; location: string } };
  const { exportId, location } = started.data;
  const campaign = await api.data<CampaignView>('GET', `/api/campaigns/${id}`);
  const total =
    options.status === undefined
      ? campaign.recipientCount
      : (campaign.counts[options.status as keyof CampaignView['counts']] ?? 0);
  const bar = new ProgressBar('export', total, { enabled: options.progress, unit: 'rows' });
  let job = await api.data<ExportJobView>('GET', location);
  while (job.status === 'running') {
    bar.update(job.rows);
    await sleep(EXPORT_POLL_MS);
    job = await api.data<ExportJobView>('GET', location);
  }
  if (job.status === 'failed' || !job.url) {
    bar.finish('failed', job.rows);
    throw new ApiError(
      0,
      'ERR_EXPORT_FAILED',
      job.error ?? `Export '${exportId}' failed; run the command again.`,
    );
  }
  bar.finish('written', job.rows);

  let download: Response;
  try {
    download = await fetch(job.url);
  } catch (error) {
    throw new ApiError(
      0,
      'ERR_UNREACHABLE',
      `Cannot download export '${exportId}' (${(error as Error).message}).`,
    );
  }
  if (!download.ok) {
    throw new ApiError(
      download.status,
      `HTTP_${download.status}`,
      `Downloading export '${exportId}' failed with HTTP ${download.status}; run the command again for a new URL.`,
    );
  }
  const size = Number(download.headers.get('content-length') ?? 0);
  const downloadBar = new ProgressBar('download', size, { enabled: options.progress, unit: 'bytes' });
  const bytes = await streamTo(download.body, options.out, (n) => downloadBar.update(n));
  downloadBar.finish(undefined, bytes);
  return { campaignId, via: 'job', exportId, rows: job.rows, bytes };
}
