/**
 * API function for recipients: the direct CSV upload, presigned uploads, upload status
 * and inline recipient adds (`infra/routes.ts`). Every path ends in the same place: a CSV
 * object in S3 for the importer, or keyed recipient puts.
 *
 * A dry run (`?dryRun=true` on the direct upload, `dryRun: true` for an upload URL) runs
 * the importer's code with writes off (shared/domain/dry-run.ts): the direct one here, on
 * the file in memory, answering at once; the presigned one in the importer, on an upload
 * record flagged `dryRun` that never takes the campaign's lock. Neither refuses a campaign
 * that is no longer a draft: nothing is added to it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { z } from 'zod';
import { bucketName, presigningS3, s3 } from '#shared/adapters/s3.ts';
import { uploadConfig } from '#shared/config.ts';
import { importRunningError, recipientsNeedDraftError } from '#shared/domain/campaigns.ts';
import { checkHeader, invalidUserIdsError } from '#shared/domain/csv-rules.ts';
import { readCsvHeader } from '#shared/domain/csv-stream.ts';
import { dryRunUpload } from '#shared/domain/dry-run.ts';
import { newId } from '#shared/domain/keys.ts';
import type { Campaign, Upload } from '#shared/domain/model.ts';
import { checkInlineVariables, invalidVariablesError } from '#shared/domain/variables.ts';
import { InvalidInputError, isErrorCode, PublicError } from '#shared/errors.ts';
import { createApiHandler } from '#shared/http/api-handler.ts';
import { parseDirectUpload } from '#shared/http/multipart.ts';
import { bodyBytes, header, jsonBody, pathParameter, query } from '#shared/http/request.ts';
import { data } from '#shared/http/responses.ts';
import { findCampaign, getCampaign } from '#shared/store/campaigns.ts';
import { countRecipients, putRecipients } from '#shared/store/recipients.ts';
import { getTemplate } from '#shared/store/templates.ts';
import {
  createUpload,
  createUploadLocked,
  failUpload,
  findUpload,
  getUpload,
  lockForInlineAdd,
  newUpload,
  releaseLock,
  releaseStaleLock,
} from '#shared/store/uploads.ts';

const config = uploadConfig();
/** Presigned URLs (upload and report download) live this long (default 15 minutes). */
const URL_SECONDS = config.PRESIGNED_URL_SECONDS;
const MAX_INLINE = 10_000;

/** Refuses a campaign that cannot take recipients now: not a draft, or an import running. */
async function assertAcceptsRecipients(campaign: Campaign): Promise<void> {
  if (campaign.status !== 'draft') throw recipientsNeedDraftError(campaign.id, campaign.status);
  if (campaign.importingUploadId && !(await releaseStaleLock(campaign))) {
    throw importRunningError(campaign.id, campaign.importingUploadId);
  }
}

function uploadView(upload: Upload, rejectionsReportUrl?: string) {
  return {
    uploadId: upload.uploadId,
    campaignId: upload.campaignId,
    source: upload.source,
    status: upload.status,
    rowsRead: upload.rowsRead,
    uploaded: upload.uploaded,
    rejected: upload.rejected,
    duplicates: upload.duplicates,
    ...(upload.error ? { error: upload.error } : {}),
    rejections: upload.rejections,
    ...(rejectionsReportUrl ? { rejectionsReportUrl } : {}),
    createdAt: upload.createdAt,
    updatedAt: upload.updatedAt,
    ...(upload.completedAt ? { completedAt: upload.completedAt } : {}),
    ...(upload.dryRun
      ? {
          dryRun: true,
          ...(upload.detected ? { detected: upload.detected } : {}),
          ...(upload.preview ? { preview: upload.preview } : {}),
        }
      : {}),
  };
}

/** The direct upload's `dryRun` query parameter: `true` or `false` (the default). */
function dryRunParameter(event: Parameters<typeof query>[0]): boolean {
  const value = query(event).dryRun;
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw new InvalidInputError(
    `Query parameter 'dryRun' must be 'true' or 'false', got '${value.slice(0, 40)}'; use ?dryRun=true to check a file without adding it.`,
    { field: 'dryRun' },
  );
}

/** The size of the pieces a direct dry run reads its in-memory file in. */
const DRY_RUN_CHUNK_BYTES = 64 * 1024;

/**
 * A direct dry run: the import of the file in memory with writes off, answered at once.
 * A file-level error is the import's own 400; nothing is stored either way.
 */
async function directDryRun(appId: string, campaign: Campaign, file: Buffer) {
  const template = await getTemplate(appId, campaign.templateId);
  const outcome = await dryRunUpload(async () => {
    async function* pieces(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < file.length; at += DRY_RUN_CHUNK_BYTES) {
        yield file.subarray(at, at + DRY_RUN_CHUNK_BYTES);
      }
    }
    return pieces();
  }, template);
  if (!outcome.ok) throw new InvalidInputError(outcome.error.message, { campaignId: campaign.id });
  const { totals } = outcome;
  return data({
    campaignId: campaign.id,
    dryRun: true,
    status: 'completed',
    rowsRead: totals.rowsRead,
    uploaded: totals.valid,
    rejected: totals.rejected,
    duplicates: totals.duplicates,
    rejections: outcome.rejections,
    detected: outcome.detected,
    preview: outcome.preview,
  });
}

/**
 * A failed import as the error the direct upload answers with: the code and message its
 * upload record keeps (a code this system does not know answers as ERR_OPERATION_FAILED).
 */
function uploadFailure(upload: Upload): PublicError {
  const stored = upload.error;
  return new PublicError(
    stored && isErrorCode(stored.code) ? stored.code : 'ERR_OPERATION_FAILED',
    stored?.message ?? 'The import failed.',
    { uploadId: upload.uploadId, campaignId: upload.campaignId },
  );
}

/** Time a direct upload keeps to answer once it stops waiting for its import. */
const ANSWER_MARGIN_MS = 1000;
/** API Gateway's integration timeout: it answers 504 after this long, whatever the function does. */
const API_GATEWAY_TIMEOUT_MS = 29_000;

/**
 * The direct upload's answer once its import finished, or undefined when it has not
 * finished within `waitMs` (a read still in flight then is left to finish unheeded).
 */
async function importResult(appId: string, campaignId: string, uploadId: string, waitMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const stop = new AbortController();
  const timeUp = new Promise<undefined>((resolve) => {
    timer = setTimeout(
      () => {
        stop.abort();
        resolve(undefined);
      },
      Math.max(0, waitMs),
    );
  });
  const poll = async () => {
    while (!stop.signal.aborted) {
      const current = await findUpload(appId, campaignId, uploadId);
      if (current?.status === 'completed') {
        const after = await findCampaign(appId, campaignId);
        return data({
          campaignId,
          uploadId,
          status: 'completed',
          uploaded: current.uploaded,
          rejected: current.rejected,
          duplicates: current.duplicates,
          total: after?.recipientCount ?? 0,
        });
      }
      if (current?.status === 'failed') throw uploadFailure(current);
      await sleep(100);
    }
    return undefined;
  };
  const polling = poll();
  // Once time is up, a late failure of the abandoned poll has nobody to go to.
  polling.catch(() => {});
  try {
    return await Promise.race([polling, timeUp]);
  } finally {
    clearTimeout(timer);
  }
}

const presignBody = z
  .object({
    contentLength: z
      .number()
      .int()
      .min(1, 'must be at least 1 byte')
      .max(config.PRESIGNED_UPLOAD_MAX_BYTES, `must be at most ${config.PRESIGNED_UPLOAD_MAX_BYTES} bytes`),
    dryRun: z.boolean().optional(),
  })
  .strict();

const inlineBody = z
  .object({
    userIds: z
      .array(z.string())
      .min(1, 'must name at least one user')
      .max(MAX_INLINE, `at most ${MAX_INLINE} per call`),
    variables: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export const handler = createApiHandler({
  'POST /api/campaigns/upload': async ({ event, appId, context }) => {
    const dryRun = dryRunParameter(event);
    const form = await parseDirectUpload(
      bodyBytes(event),
      header(event, 'content-type') ?? '',
      config.DIRECT_UPLOAD_MAX_BYTES,
    );
    const campaign = await getCampaign(appId, form.campaignId);
    if (dryRun) return directDryRun(appId, campaign, form.file);
    await assertAcceptsRecipients(campaign);
    const template = await getTemplate(appId, campaign.templateId);
    checkHeader(await readCsvHeader(form.file), template.variableSchema);

    const upload = newUpload({
      uploadId: newId('upl'),
      appId,
      campaignId: campaign.id,
      source: 'direct',
      maxBytes: form.file.length,
    });
    await createUploadLocked(upload);
    try {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucketName,
          Key: upload.objectKey,
          Body: form.file,
          ContentType: 'text/csv',
        }),
      );
    } catch (error) {
      // Unless the file landed after all and an importer has claimed it.
      await failUpload(
        appId,
        campaign.id,
        upload.uploadId,
        { code: 'ERR_OPERATION_FAILED', message: 'The file could not be stored; upload it again.' },
        { unclaimedAt: Date.now() },
      );
      throw error;
    }

    // Wait for the import, but answer before this function's timeout and API Gateway's (its
    // clock started when the request arrived, before any cold start): when the store is slow,
    // the caller gets a 202 to poll, never a timed-out 500 or 504 that hides the upload it started.
    const arrived = event.requestContext?.requestTimeEpoch;
    const waitMs = Math.min(
      config.UPLOAD_WAIT_SECONDS * 1000,
      context.getRemainingTimeInMillis() - ANSWER_MARGIN_MS,
      arrived ? arrived + API_GATEWAY_TIMEOUT_MS - Date.now() - ANSWER_MARGIN_MS : Number.POSITIVE_INFINITY,
    );
    const finished = await importResult(appId, campaign.id, upload.uploadId, waitMs);
    return (
      finished ?? data({ campaignId: campaign.id, uploadId: upload.uploadId, status: 'processing' }, 202)
    );
  },

  'POST /api/campaigns/{id}/upload-url': async ({ event, appId }) => {
    const { contentLength, dryRun } = jsonBody(event, presignBody);
    const campaign = await getCampaign(appId, pathParameter(event, 'id'));
    // A dry run adds nothing, so it is answered whatever the campaign's status or lock.
    if (!dryRun) await assertAcceptsRecipients(campaign);
    const upload = newUpload({
      uploadId: newId('upl'),
      appId,
      campaignId: campaign.id,
      source: 'presigned',
      maxBytes: contentLength,
      ...(dryRun ? { dryRun: true as const } : {}),
    });
    await createUpload(upload);
    const headers = { 'content-type': 'text/csv', 'content-length': String(contentLength) };
    const url = await getSignedUrl(
      presigningS3,
      new PutObjectCommand({
        Bucket: bucketName,
        Key: upload.objectKey,
        ContentLength: contentLength,
        ContentType: 'text/csv',
      }),
      { expiresIn: URL_SECONDS, signableHeaders: new Set(['content-length', 'content-type']) },
    );
    return data(
      {
        uploadId: upload.uploadId,
        url,
        method: 'PUT',
        headers,
        expiresAt: new Date(Date.now() + URL_SECONDS * 1000).toISOString(),
        maxBytes: config.PRESIGNED_UPLOAD_MAX_BYTES,
        ...(dryRun ? { dryRun: true } : {}),
      },
      201,
    );
  },

  'GET /api/campaigns/{id}/uploads/{uploadId}': async ({ event, appId }) => {
    const upload = await getUpload(appId, pathParameter(event, 'id'), pathParameter(event, 'uploadId'));
    const reportUrl = upload.rejectionsReportKey
      ? await getSignedUrl(
          presigningS3,
          new GetObjectCommand({ Bucket: bucketName, Key: upload.rejectionsReportKey }),
          {
            expiresIn: URL_SECONDS,
          },
        )
      : undefined;
    return data(uploadView(upload, reportUrl));
  },

  'POST /api/campaigns/{id}/recipients': async ({ event, appId, context }) => {
    const body = jsonBody(event, inlineBody);
    const campaign = await getCampaign(appId, pathParameter(event, 'id'));
    const invalid = invalidUserIdsError('userIds', body.userIds);
    if (invalid) throw invalid;
    const userIds = [...new Set(body.userIds)];
    const template = await getTemplate(appId, campaign.templateId);
    const checked = checkInlineVariables(template.variableSchema, { userIds, perUser: body.variables });
    if (!checked.ok) throw invalidVariablesError(checked.problems);

    await assertAcceptsRecipients(campaign);
    const lockId = `inline:${context.awsRequestId}`;
    await lockForInlineAdd(appId, campaign.id, lockId);
    let total: number | undefined;
    try {
      await putRecipients(
        appId,
        campaign.id,
        userIds.map((userId) => ({ userId, variables: checked.values.get(userId) ?? {} })),
      );
      total = await countRecipients(appId, campaign.id);
    } finally {
      await releaseLock(appId, campaign.id, lockId, total);
    }
    return data({ added: userIds.length, total });
  },
});
