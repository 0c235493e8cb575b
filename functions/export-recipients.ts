/**
 * The export function: writes a campaign's recipients as CSV to
 * `exports/<appId>/<campaignId>/<exportId>.csv` (docs/api.md, "Exporting recipients").
 * Started asynchronously with `{ appId, campaignId, exportId }` by the exports API when
 * an export is past the inline bound. Memory holds one page of recipients and one part
 * of the multipart upload, whatever the campaign's size; each part written records the
 * rows so far on the export, and the end marks it `ready` (or `failed`).
 */
import { z } from 'zod';
import { writeObject } from '#shared/adapters/object-writer.ts';
import { recipientLines } from '#shared/adapters/recipients-export.ts';
import { bucketName, s3 } from '#shared/adapters/s3.ts';
import { exportConfig } from '#shared/config.ts';
import { exportKeys } from '#shared/domain/recipients-export.ts';
import { lambdaStack } from '#shared/lambda.ts';
import { logger } from '#shared/observability.ts';
import { getCampaign } from '#shared/store/campaigns.ts';
import { getExport, updateExport } from '#shared/store/exports.ts';
import { getTemplate } from '#shared/store/templates.ts';

const exportEvent = z.object({
  appId: z.string().min(1),
  campaignId: z.string().min(1),
  exportId: z.string().min(1),
});
const config = exportConfig();

export interface ExportResult {
  status: 'ready' | 'failed' | 'skipped';
  rows: number;
}

/** Runs one export; an export already ready or failed is left as it is (a replayed invoke). */
export async function runExport(appId: string, campaignId: string, exportId: string): Promise<ExportResult> {
  const job = await getExport(appId, campaignId, exportId);
  if (job.status !== 'running') return { status: 'skipped', rows: job.rows };
  let rows = 0;
  try {
    const campaign = await getCampaign(appId, campaignId);
    const template = await getTemplate(appId, campaign.templateId);
    const keys = exportKeys(template.variableSchema);
    const lines = recipientLines(
      appId,
      campaignId,
      keys,
      job.recipientStatus ? { status: job.recipientStatus } : {},
    );
    let header = true;
    async function* counted(): AsyncGenerator<string> {
      for await (const line of lines) {
        if (header) header = false;
        else rows += 1;
        yield line;
      }
    }
    const written = await writeObject(
      s3,
      {
        bucket: bucketName,
        key: job.objectKey,
        contentType: 'text/csv; charset=utf-8',
        partBytes: config.EXPORT_PART_BYTES,
      },
      counted(),
      () => updateExport(job, { rows }),
    );
    await updateExport(job, { status: 'ready', rows });
    logger.info('export: ready', {
      appId,
      campaignId,
      exportId,
      rows,
      bytes: written.bytes,
      parts: written.parts,
    });
    return { status: 'ready', rows };
  } catch (error) {
    // Ids and the SDK's error only: no recipient data in the logs.
    logger.error('export: failed', { appId, campaignId, exportId, rows, error });
    await updateExport(job, {
      status: 'failed',
      rows,
      error:
        'The export could not be written; start a new one with GET /api/campaigns/{id}/recipients/export.',
    });
    return { status: 'failed', rows };
  }
}

export const handler = lambdaStack<unknown, ExportResult>().handler(async (event) => {
  const { appId, campaignId, exportId } = exportEvent.parse(event);
  return runExport(appId, campaignId, exportId);
});
