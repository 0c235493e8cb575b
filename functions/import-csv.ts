/**
 * The S3-triggered importer: for each new object under `uploads/`, claims its upload,
 * streams and validates the CSV (shared/domain/import-upload.ts), writes recipients,
 * reports rejections, and sets the campaign's recipient count. Idempotent: a duplicate
 * event finds the upload busy or done; a replay after a crash rewrites the same items
 * and counts recipients afresh.
 *
 * A dry run's upload (`dryRun` on its record) goes through the same claim, checks and
 * `importUpload` passes (shared/domain/dry-run.ts) with the recipient writes replaced by
 * a preview sink: it completes or fails its upload record only (no lock, no recipient, no
 * campaign change), and its object is deleted once the record is settled (the `uploads/`
 * lifecycle rule removes one whose importer died before that).
 */

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DeleteObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import type { Context, S3Event, S3EventRecord } from 'aws-lambda';
import { RejectionsReport } from '#shared/adapters/rejections-report.ts';
import { bucketName, s3 } from '#shared/adapters/s3.ts';
import { dryRunUpload } from '#shared/domain/dry-run.ts';
import { importUpload } from '#shared/domain/import-upload.ts';
import { parseUploadObjectKey, rejectionsReportKey } from '#shared/domain/keys.ts';
import type { Template } from '#shared/domain/model.ts';
import { lambdaStack } from '#shared/lambda.ts';
import { logger, metrics } from '#shared/observability.ts';
import { findCampaign } from '#shared/store/campaigns.ts';
import { BatchWriter, countRecipients, recipientItem } from '#shared/store/recipients.ts';
import { findTemplate } from '#shared/store/templates.ts';
import {
  claimUpload,
  completeDryRun,
  completeUpload,
  failUpload,
  recordProgress,
  releaseClaim,
} from '#shared/store/uploads.ts';

/** The object key of an S3 event record: URL-encoded, with '+' for spaces. */
export function objectKey(record: S3EventRecord): string {
  return decodeURIComponent(record.s3.object.key.replaceAll('+', ' '));
}

/** Thrown so that Lambda retries the event later: another invocation holds the upload. */
export class UploadBusyError extends Error {
  override name = 'UploadBusyError';
}

/** A settled dry run's file: it is not kept (nothing of a dry run is). */
async function dropDryRunObject(key: string): Promise<void> {
  await s3.send(new DeleteObjectCommand({ Bucket: bucketName, Key: key }));
}

/** The dry run of a claimed upload: the import's passes with a preview sink, the upload record settled. */
async function dryRunRecord(
  key: string,
  ids: { appId: string; campaignId: string; uploadId: string },
  owner: string,
  template: Template,
): Promise<void> {
  const { appId, campaignId, uploadId } = ids;
  const zero = { rowsRead: 0, uploaded: 0, rejected: 0, duplicates: 0 };
  let etag: string | undefined;
  try {
    const outcome = await dryRunUpload(
      async () => {
        const object = await s3.send(new GetObjectCommand({ Bucket: bucketName, Key: key, IfMatch: etag }));
        etag ??= object.ETag;
        return object.Body as AsyncIterable<Uint8Array>;
      },
      template,
      {
        heartbeat: () => recordProgress(appId, campaignId, uploadId, owner, zero),
        progress: (t) =>
          recordProgress(appId, campaignId, uploadId, owner, {
            rowsRead: t.rowsRead,
            uploaded: t.valid,
            rejected: t.rejected,
            duplicates: t.duplicates,
          }),
      },
    );
    if (!outcome.ok) {
      await failUpload(appId, campaignId, uploadId, outcome.error, { owner });
      logger.info('dry run failed: a file-level error');
    } else {
      const { totals } = outcome;
      await completeDryRun(appId, campaignId, uploadId, owner, {
        rowsRead: totals.rowsRead,
        uploaded: totals.valid,
        rejected: totals.rejected,
        duplicates: totals.duplicates,
        rejections: outcome.rejections,
        detected: outcome.detected,
        preview: outcome.preview,
      });
      logger.info('dry run completed', { rowsRead: totals.rowsRead, wouldAdd: totals.valid });
    }
  } catch (error) {
    await releaseClaim(appId, campaignId, uploadId, owner);
    throw error;
  }
  await dropDryRunObject(key);
}

async function importRecord(record: S3EventRecord, owner: string): Promise<void> {
  const key = objectKey(record);
  const ids = parseUploadObjectKey(key);
  if (!ids) {
    logger.warn('ignoring an object outside the uploads layout', { key });
    return;
  }
  const { appId, campaignId, uploadId } = ids;
  logger.appendKeys({ appId, campaignId, uploadId });
  try {
    const claim = await claimUpload(appId, campaignId, uploadId, owner);
    if (claim.outcome === 'busy')
      throw new UploadBusyError(`upload ${uploadId} is being imported by another invocation`);
    if (claim.outcome !== 'claimed') {
      logger.info('nothing to import', { outcome: claim.outcome });
      return;
    }
    const upload = claim.upload;
    if (record.s3.object.size > upload.maxBytes) {
      await failUpload(
        appId,
        campaignId,
        uploadId,
        {
          code: 'ERR_BAD_REQUEST',
          message: `The file is ${record.s3.object.size} bytes, over the ${upload.maxBytes} bytes allowed for this upload; request a new upload URL with the file's exact size.`,
        },
        { owner },
      );
      if (upload.dryRun) await dropDryRunObject(key);
      return;
    }
    const campaign = await findCampaign(appId, campaignId);
    const template = campaign && (await findTemplate(appId, campaign.templateId));
    if (!template) {
      await failUpload(
        appId,
        campaignId,
        uploadId,
        {
          code: 'ERR_NOT_FOUND',
          message: `Campaign '${campaignId}' or its template no longer exists.`,
        },
        { owner },
      );
      if (upload.dryRun) await dropDryRunObject(key);
      return;
    }
    if (upload.dryRun) {
      await dryRunRecord(key, ids, owner, template);
      return;
    }

    const started = performance.now();
    const writer = new BatchWriter({ concurrency: 8 });
    const report = new RejectionsReport(`rejections-${uploadId}`);
    const now = new Date().toISOString();
    const zero = { rowsRead: 0, uploaded: 0, rejected: 0, duplicates: 0 };
    let etag: string | undefined;
    try {
      const outcome = await importUpload(
        {
          // The writing pass reads the very object the validating pass checked: if a second PUT
          // replaced it meanwhile, IfMatch fails the read and the retry imports the new one afresh.
          open: async () => {
            const object = await s3.send(
              new GetObjectCommand({ Bucket: bucketName, Key: key, IfMatch: etag }),
            );
            etag ??= object.ETag;
            return object.Body as AsyncIterable<Uint8Array>;
          },
          writeBatch: (batch) =>
            writer.write(batch.map((r) => recipientItem(appId, campaignId, r, now, uploadId))),
          flush: () => writer.flush(),
          heartbeat: () => recordProgress(appId, campaignId, uploadId, owner, zero),
          progress: (t) =>
            recordProgress(appId, campaignId, uploadId, owner, {
              rowsRead: t.rowsRead,
              uploaded: t.valid,
              rejected: t.rejected,
              duplicates: t.duplicates,
            }),
          addRejection: (rejection) => report.add(rejection),
        },
        template.variableSchema,
      );
      if (!outcome.ok) {
        await report.discard();
        await failUpload(appId, campaignId, uploadId, outcome.error, { owner });
        metrics.addMetric('uploadsFailed', MetricUnit.Count, 1);
        return;
      }
      const reportKey = await report.save(rejectionsReportKey(appId, campaignId, uploadId));
      const recipientCount = await countRecipients(appId, campaignId);
      const { totals } = outcome;
      await completeUpload(appId, campaignId, uploadId, owner, {
        rowsRead: totals.rowsRead,
        uploaded: totals.valid,
        rejected: totals.rejected,
        duplicates: totals.duplicates,
        rejections: outcome.rejections,
        rejectionsReportKey: reportKey,
        recipientCount,
      });
      metrics.addMetric('rowsImported', MetricUnit.Count, totals.valid);
      metrics.addMetric('rowsRejected', MetricUnit.Count, totals.rejected);
      metrics.addMetric('importDuration', MetricUnit.Milliseconds, performance.now() - started);
      logger.info('import completed', { rowsRead: totals.rowsRead, uploaded: totals.valid, recipientCount });
    } catch (error) {
      await report.discard();
      await releaseClaim(appId, campaignId, uploadId, owner);
      throw error;
    }
  } finally {
    logger.removeKeys(['appId', 'campaignId', 'uploadId']);
  }
}

export const handler = lambdaStack<S3Event, void>().handler(async (event: S3Event, context: Context) => {
  for (const record of event.Records) await importRecord(record, context.awsRequestId);
});
