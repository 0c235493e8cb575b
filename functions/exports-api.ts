/**
 * API function for recipient exports (docs/api.md, "Exporting recipients"):
 * `GET /api/campaigns/{id}/recipients/export` answers `200 text/csv` when the export
 * fits the inline bound, and otherwise starts the export function and answers
 * `202 { data: { exportId } }`; `GET /api/campaigns/{id}/recipients/exports/{exportId}`
 * tells how the export is going and, once it is ready, gives a presigned download URL.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { invokeAsync } from '#shared/adapters/lambda.ts';
import { recipientLines } from '#shared/adapters/recipients-export.ts';
import { bucketName, presigningS3 } from '#shared/adapters/s3.ts';
import { exportConfig, exportFunctionConfig } from '#shared/config.ts';
import { exportObjectKey, newId } from '#shared/domain/keys.ts';
import {
  collectInline,
  exportFileName,
  exportKeys,
  parseExportStatus,
} from '#shared/domain/recipients-export.ts';
import { createApiHandler } from '#shared/http/api-handler.ts';
import { pathParameter, query } from '#shared/http/request.ts';
import { data } from '#shared/http/responses.ts';
import { logger } from '#shared/observability.ts';
import { getCampaign } from '#shared/store/campaigns.ts';
import {
  createExport,
  EXPORT_EXPIRY_DAYS,
  type ExportJob,
  getExport,
  updateExport,
} from '#shared/store/exports.ts';
import { getTemplate } from '#shared/store/templates.ts';

const config = exportConfig();
const exportFunctionArn = exportFunctionConfig().EXPORT_FUNCTION_ARN;

/**
 * A running export without a progress write for this long has stopped (the export
 * function's 15 minutes, its retries' waits, and a margin): it is shown as failed.
 */
export const EXPORT_STALE_MS = 20 * 60 * 1000;

async function exportView(job: ExportJob) {
  const stale = job.status === 'running' && Date.now() - Date.parse(job.updatedAt) > EXPORT_STALE_MS;
  const status = stale ? 'failed' : job.status;
  const base = {
    exportId: job.exportId,
    campaignId: job.campaignId,
    status,
    ...(job.recipientStatus ? { recipientStatus: job.recipientStatus } : {}),
    rows: job.rows,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
  };
  if (stale)
    return {
      ...base,
      error:
        'The export stopped before it finished; start a new one with GET /api/campaigns/{id}/recipients/export.',
    };
  if (status === 'failed') return { ...base, ...(job.error ? { error: job.error } : {}) };
  if (status !== 'ready') return base;
  const url = await getSignedUrl(
    presigningS3,
    new GetObjectCommand({
      Bucket: bucketName,
      Key: job.objectKey,
      ResponseContentType: 'text/csv; charset=utf-8',
      ResponseContentDisposition: `attachment; filename="${exportFileName(job.campaignId, job.recipientStatus)}"`,
    }),
    { expiresIn: config.EXPORT_URL_SECONDS },
  );
  return {
    ...base,
    url,
    urlExpiresAt: new Date(Date.now() + config.EXPORT_URL_SECONDS * 1000).toISOString(),
  };
}

export const handler = createApiHandler({
  'GET /api/campaigns/{id}/recipients/export': async ({ event, appId }) => {
    const id = pathParameter(event, 'id');
    const status = parseExportStatus(query(event).status);
    const campaign = await getCampaign(appId, id);
    const keys = exportKeys((await getTemplate(appId, campaign.templateId)).variableSchema);
    // The campaign's counts say when it cannot fit; a count that lags is caught by the bound itself.
    const expected = status ? (campaign.counts[status] ?? 0) : campaign.recipientCount;
    if (expected <= config.EXPORT_INLINE_MAX_ROWS) {
      const inline = await collectInline(recipientLines(appId, id, keys, status ? { status } : {}), {
        maxBytes: config.EXPORT_INLINE_MAX_BYTES,
        maxRows: config.EXPORT_INLINE_MAX_ROWS,
      });
      if (inline.fits) {
        return {
          statusCode: 200,
          headers: {
            'content-type': 'text/csv; charset=utf-8',
            'content-disposition': `attachment; filename="${exportFileName(id, status)}"`,
            'cache-control': 'no-store',
            'x-export-rows': String(inline.rows),
          },
          body: inline.csv,
        };
      }
    }

    const now = new Date();
    const exportId = newId('exp');
    const job: ExportJob = {
      exportId,
      appId,
      campaignId: id,
      status: 'running',
      ...(status ? { recipientStatus: status } : {}),
      rows: 0,
      objectKey: exportObjectKey(appId, id, exportId),
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      expiresAt: Math.floor(now.getTime() / 1000) + EXPORT_EXPIRY_DAYS * 86_400,
    };
    await createExport(job);
    let started = true;
    try {
      await invokeAsync(exportFunctionArn, { appId, campaignId: id, exportId });
    } catch (error) {
      started = false;
      logger.warn('export: the export function could not be started', {
        appId,
        campaignId: id,
        exportId,
        error,
      });
      await updateExport(job, {
        status: 'failed',
        error: 'The export could not be started; retry GET /api/campaigns/{id}/recipients/export.',
      });
    }
    const location = `/api/campaigns/${encodeURIComponent(id)}/recipients/exports/${exportId}`;
    const response = data({ exportId, status: started ? 'running' : 'failed', location }, 202);
    response.headers = { ...response.headers, location };
    return response;
  },

  'GET /api/campaigns/{id}/recipients/exports/{exportId}': async ({ event, appId }) => {
    const id = pathParameter(event, 'id');
    await getCampaign(appId, id);
    return data(await exportView(await getExport(appId, id, pathParameter(event, 'exportId'))));
  },
});
