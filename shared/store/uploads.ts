/**
 * Upload records and the campaign's import lock. An upload is imported by one importer
 * at a time: `claimUpload` takes a lease (renewed with every progress write) together
 * with the campaign's `importingUploadId` lock, so a duplicate S3 event finds the upload
 * busy or done, and a crashed importer's lease runs out for a retry to take over.
 */
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  handlerTable,
  isConditionalCheckFailed,
  isTransactionConditionFailed,
  type Table,
  transactWrite,
} from '#shared/adapters/dynamodb.ts';
import { importConfig } from '#shared/config.ts';
import { importRunningError, recipientsNeedDraftError } from '#shared/domain/campaigns.ts';
import { appPk, campaignSk, uploadObjectKey, uploadSk } from '#shared/domain/keys.ts';
import type { Campaign, Rejection, Upload } from '#shared/domain/model.ts';
import { type ErrorCode, NotFoundError } from '#shared/errors.ts';
import { createCampaignsStore, releaseLock } from './campaigns.ts';
import { createRecipientsStore } from './recipients.ts';

export { releaseLock };

/** How long a claim holds without a progress write (`IMPORT_LEASE_SECONDS`, 60 s by default). */
export function leaseMs(): number {
  return importConfig().IMPORT_LEASE_SECONDS * 1000;
}
/** A lock whose direct upload never reached S3 is stale after this long. */
const PENDING_LOCK_MS = 15 * 60_000;

export interface UploadTotals {
  rowsRead: number;
  uploaded: number;
  rejected: number;
  duplicates: number;
}

type StoredUpload = Upload & { owner?: string; leaseUntil?: number };

const uploadKey = (appId: string, campaignId: string, uploadId: string) => ({
  pk: appPk(appId),
  sk: uploadSk(campaignId, uploadId),
});
const campaignKey = (appId: string, campaignId: string) => ({ pk: appPk(appId), sk: campaignSk(campaignId) });

function fromItem(item: Record<string, unknown>): StoredUpload {
  const { pk: _pk, sk: _sk, ...upload } = item;
  return upload as unknown as StoredUpload;
}

/**
 * A write refused by its condition. A transaction cancelled by a conflict or throttling
 * is not one: `transactWrite` sends it again, and throws it on when it stays cancelled.
 */
function isConditionFailure(error: unknown): boolean {
  return isConditionalCheckFailed(error) || isTransactionConditionFailed(error);
}

/** A new upload record in `pending`. */
export function newUpload(
  fields: Pick<Upload, 'uploadId' | 'appId' | 'campaignId' | 'source' | 'maxBytes' | 'dryRun'>,
): Upload {
  const now = new Date().toISOString();
  const { dryRun, ...rest } = fields;
  return {
    ...rest,
    ...(dryRun ? { dryRun: true as const } : {}),
    status: 'pending',
    objectKey: uploadObjectKey(fields.appId, fields.campaignId, fields.uploadId),
    rowsRead: 0,
    uploaded: 0,
    rejected: 0,
    duplicates: 0,
    rejections: [],
    createdAt: now,
    updatedAt: now,
  };
}

function conflictOf(campaignId: string, campaign: Campaign | undefined): Error {
  if (campaign && campaign.status !== 'draft') return recipientsNeedDraftError(campaignId, campaign.status);
  return importRunningError(campaignId, campaign?.importingUploadId);
}

/** Claims tried by `claimUpload` while each one loses a race to a state that has moved on since. */
const CLAIM_ATTEMPTS = 3;

export type ClaimResult =
  | { outcome: 'claimed'; upload: StoredUpload }
  /** Completed or failed already: a duplicate event, nothing to do. */
  | { outcome: 'done'; upload: StoredUpload }
  /** Another importer holds a live lease (or the claim kept losing races): for a retry later. */
  | { outcome: 'busy' }
  /** The campaign refused the import (not a draft, or another import running): the upload has been failed. */
  | { outcome: 'refused'; error: Error }
  | { outcome: 'missing' };

function totalsValues(totals: UploadTotals) {
  return {
    ':rowsRead': totals.rowsRead,
    ':uploaded': totals.uploaded,
    ':rejected': totals.rejected,
    ':duplicates': totals.duplicates,
  };
}

/** Who may fail an upload: its claim's owner, or anyone while nobody holds a live claim. */
export type FailGuard =
  /** The importer whose claim it is (`claimUpload`'s owner). */
  | { owner: string; unclaimedAt?: never }
  /** Nobody holds a claim whose lease runs past this (epoch ms): pending, or its lease run out. */
  | { unclaimedAt: number; owner?: never };

/** The uploads store on `table`, over its campaigns and recipients stores. */
export function createUploadsStore(table: Table) {
  const campaigns = createCampaignsStore(table);
  const recipients = createRecipientsStore(table);

  /** The upload, or undefined (also for another app's). */
  async function findUpload(
    appId: string,
    campaignId: string,
    uploadId: string,
  ): Promise<StoredUpload | undefined> {
    const { Item } = await table.client.send(
      new GetCommand({
        TableName: table.tableName,
        Key: uploadKey(appId, campaignId, uploadId),
        ConsistentRead: true,
      }),
    );
    return Item ? fromItem(Item) : undefined;
  }

  async function getUpload(appId: string, campaignId: string, uploadId: string): Promise<StoredUpload> {
    const upload = await findUpload(appId, campaignId, uploadId);
    if (!upload) throw new NotFoundError('Upload', uploadId);
    return upload;
  }

  /** Stores a presigned upload's record; its import takes the campaign lock when the file arrives. */
  async function createUpload(upload: Upload): Promise<void> {
    await table.client.send(
      new PutCommand({
        TableName: table.tableName,
        Item: { ...uploadKey(upload.appId, upload.campaignId, upload.uploadId), ...upload },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  /**
   * Stores a direct upload's record and takes the campaign's import lock in one
   * transaction, so two uploads (or an upload and a send) cannot both proceed.
   *
   * @throws ConflictError when the campaign is not a draft or an import is running.
   */
  async function createUploadLocked(upload: Upload): Promise<void> {
    try {
      await transactWrite(
        {
          TransactItems: [
            {
              Put: {
                TableName: table.tableName,
                Item: { ...uploadKey(upload.appId, upload.campaignId, upload.uploadId), ...upload },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            campaigns.takeLockItem(upload.appId, upload.campaignId, upload.uploadId),
          ],
        },
        table.client,
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      throw await campaignConflict(upload.appId, upload.campaignId);
    }
  }

  /** Why a campaign refused an import: not a draft, or another import running. */
  async function campaignConflict(appId: string, campaignId: string): Promise<Error> {
    return (await campaignRefusal(appId, campaignId)) ?? conflictOf(campaignId, undefined);
  }

  /**
   * Why the campaign refuses the import of `uploadId` as it stands now: it is gone, not a
   * draft, or locked by another upload (or an inline add). Undefined when it would take it:
   * a draft, free or locked by this very upload.
   */
  async function campaignRefusal(
    appId: string,
    campaignId: string,
    uploadId?: string,
  ): Promise<Error | undefined> {
    const { Item } = await table.client.send(
      new GetCommand({
        TableName: table.tableName,
        Key: campaignKey(appId, campaignId),
        ConsistentRead: true,
      }),
    );
    if (!Item) return new NotFoundError('Campaign', campaignId);
    const campaign = Item as unknown as Campaign;
    if (campaign.status === 'draft') {
      const lock = campaign.importingUploadId;
      if (lock === undefined || (uploadId !== undefined && lock === uploadId)) return undefined;
    }
    return conflictOf(campaignId, campaign);
  }

  /**
   * Claims the upload for `owner` and takes the campaign's import lock, in one transaction.
   * A dry run's upload never takes the lock: the locking claim's condition refuses it
   * (`attribute_not_exists(dryRun)`), and it is claimed on its own record only
   * (`tryClaimDryRun`), whatever the campaign's status or lock.
   * A claim whose condition failed reads why: the upload done, or claimed under a live
   * lease, is the answer. An upload free to claim (pending, or its lease run out) failed
   * the claim on the campaign only if the campaign refuses it now (not a draft, locked by
   * another upload); then the upload is failed, if nobody has claimed it since. Otherwise
   * the claim lost a race to a state that has moved on (an importer handed the upload
   * back meanwhile): it is tried again, and after `CLAIM_ATTEMPTS` answered `busy`. A claim
   * that lost never fails an upload someone else holds, nor releases its campaign's lock.
   */
  async function claimUpload(
    appId: string,
    campaignId: string,
    uploadId: string,
    owner: string,
    now = Date.now(),
  ): Promise<ClaimResult> {
    for (let attempt = 1; attempt <= CLAIM_ATTEMPTS; attempt += 1) {
      const result = await tryClaim(appId, campaignId, uploadId, owner, now);
      if (result !== 'lost') return result;
    }
    return { outcome: 'busy' };
  }

  async function tryClaim(
    appId: string,
    campaignId: string,
    uploadId: string,
    owner: string,
    now: number,
  ): Promise<ClaimResult | 'lost'> {
    try {
      await transactWrite(
        {
          TransactItems: [
            {
              Update: {
                TableName: table.tableName,
                Key: uploadKey(appId, campaignId, uploadId),
                UpdateExpression:
                  'SET #status = :processing, #owner = :owner, leaseUntil = :lease, updatedAt = :now',
                ConditionExpression:
                  'attribute_exists(pk) AND attribute_not_exists(dryRun) AND (#status = :pending OR (#status = :processing AND leaseUntil < :nowMs))',
                ExpressionAttributeNames: { '#status': 'status', '#owner': 'owner' },
                ExpressionAttributeValues: {
                  ':processing': 'processing',
                  ':pending': 'pending',
                  ':owner': owner,
                  ':lease': now + leaseMs(),
                  ':nowMs': now,
                  ':now': new Date(now).toISOString(),
                },
              },
            },
            campaigns.takeLockItem(appId, campaignId, uploadId, true),
          ],
        },
        table.client,
      );
      return { outcome: 'claimed', upload: await getUpload(appId, campaignId, uploadId) };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const upload = await findUpload(appId, campaignId, uploadId);
    if (!upload) return { outcome: 'missing' };
    if (upload.status === 'completed' || upload.status === 'failed') return { outcome: 'done', upload };
    if (upload.status === 'processing' && (upload.leaseUntil ?? 0) >= now) return { outcome: 'busy' };
    if (upload.dryRun) return tryClaimDryRun(appId, campaignId, uploadId, owner, now);
    const refusal = await campaignRefusal(appId, campaignId, uploadId);
    if (!refusal) return 'lost';
    const failed = await failUpload(
      appId,
      campaignId,
      uploadId,
      { code: 'ERR_CONFLICT', message: refusal.message },
      { unclaimedAt: now },
    );
    // Claimed (or ended) since it was read: not this claim's to fail; look again.
    if (!failed) return 'lost';
    return { outcome: 'refused', error: refusal };
  }

  /** Claims a dry run's upload on its record alone: the campaign is neither read nor written. */
  async function tryClaimDryRun(
    appId: string,
    campaignId: string,
    uploadId: string,
    owner: string,
    now: number,
  ): Promise<ClaimResult | 'lost'> {
    try {
      const { Attributes } = await table.client.send(
        new UpdateCommand({
          TableName: table.tableName,
          Key: uploadKey(appId, campaignId, uploadId),
          UpdateExpression:
            'SET #status = :processing, #owner = :owner, leaseUntil = :lease, updatedAt = :now',
          ConditionExpression:
            'dryRun = :true AND (#status = :pending OR (#status = :processing AND leaseUntil < :nowMs))',
          ExpressionAttributeNames: { '#status': 'status', '#owner': 'owner' },
          ExpressionAttributeValues: {
            ':true': true,
            ':processing': 'processing',
            ':pending': 'pending',
            ':owner': owner,
            ':lease': now + leaseMs(),
            ':nowMs': now,
            ':now': new Date(now).toISOString(),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { outcome: 'claimed', upload: fromItem(Attributes as Record<string, unknown>) };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return 'lost';
    }
  }

  /**
   * Completes a dry run's upload with what its import would have reported, on the upload
   * record alone: no recipient count, no lock, no campaign change.
   */
  async function completeDryRun(
    appId: string,
    campaignId: string,
    uploadId: string,
    owner: string,
    result: UploadTotals & Pick<Upload, 'rejections' | 'detected' | 'preview'>,
  ): Promise<void> {
    const now = new Date().toISOString();
    await table.client.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: uploadKey(appId, campaignId, uploadId),
        UpdateExpression:
          'SET #status = :completed, rowsRead = :rowsRead, uploaded = :uploaded, rejected = :rejected, duplicates = :duplicates, rejections = :rejections, detected = :detected, preview = :preview, completedAt = :now, updatedAt = :now REMOVE leaseUntil',
        ConditionExpression: '#owner = :owner AND #status = :processing AND dryRun = :true',
        ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
        ExpressionAttributeValues: {
          ...totalsValues(result),
          ':completed': 'completed',
          ':processing': 'processing',
          ':owner': owner,
          ':true': true,
          ':rejections': result.rejections,
          ':detected': result.detected,
          ':preview': result.preview,
          ':now': now,
        },
      }),
    );
  }

  /** Writes progress and renews the lease; throws if the claim was lost. */
  async function recordProgress(
    appId: string,
    campaignId: string,
    uploadId: string,
    owner: string,
    totals: UploadTotals,
  ): Promise<void> {
    const now = Date.now();
    await table.client.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: uploadKey(appId, campaignId, uploadId),
        UpdateExpression:
          'SET rowsRead = :rowsRead, uploaded = :uploaded, rejected = :rejected, duplicates = :duplicates, leaseUntil = :lease, updatedAt = :now',
        ConditionExpression: '#owner = :owner AND #status = :processing',
        ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
        ExpressionAttributeValues: {
          ...totalsValues(totals),
          ':owner': owner,
          ':processing': 'processing',
          ':lease': now + leaseMs(),
          ':now': new Date(now).toISOString(),
        },
      }),
    );
  }

  /**
   * Completes the upload and, in the same transaction, sets the campaign's recipient
   * count (counted, not added up, so a replay cannot double it) and releases the lock.
   */
  async function completeUpload(
    appId: string,
    campaignId: string,
    uploadId: string,
    owner: string,
    result: UploadTotals & { rejections: Rejection[]; rejectionsReportKey?: string; recipientCount: number },
  ): Promise<void> {
    const now = new Date().toISOString();
    await transactWrite(
      {
        TransactItems: [
          {
            Update: {
              TableName: table.tableName,
              Key: uploadKey(appId, campaignId, uploadId),
              UpdateExpression:
                'SET #status = :completed, rowsRead = :rowsRead, uploaded = :uploaded, rejected = :rejected, duplicates = :duplicates, rejections = :rejections, completedAt = :now, updatedAt = :now' +
                (result.rejectionsReportKey ? ', rejectionsReportKey = :report' : '') +
                ' REMOVE leaseUntil',
              ConditionExpression: '#owner = :owner AND #status = :processing',
              ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
              ExpressionAttributeValues: {
                ...totalsValues(result),
                ':completed': 'completed',
                ':processing': 'processing',
                ':owner': owner,
                ':rejections': result.rejections,
                ':now': now,
                ...(result.rejectionsReportKey ? { ':report': result.rejectionsReportKey } : {}),
              },
            },
          },
          campaigns.completeImportItem(appId, campaignId, uploadId, result.recipientCount, now),
        ],
      },
      table.client,
    );
  }

  /**
   * Fails the upload with a public error, if `guard` still holds, and then releases the
   * campaign's lock if the upload holds it. A guard that no longer holds (another importer
   * claimed it since, or it ended) changes nothing, the lock included. Returns whether the
   * upload was failed by this call.
   */
  async function failUpload(
    appId: string,
    campaignId: string,
    uploadId: string,
    error: { code: ErrorCode; message: string },
    guard: FailGuard,
    recipientCount?: number,
  ): Promise<boolean> {
    const now = new Date().toISOString();
    const owned = guard.owner !== undefined;
    const failed = await table.client
      .send(
        new UpdateCommand({
          TableName: table.tableName,
          Key: uploadKey(appId, campaignId, uploadId),
          UpdateExpression:
            'SET #status = :failed, #error = :error, completedAt = :now, updatedAt = :now REMOVE leaseUntil',
          ConditionExpression: owned
            ? '#owner = :owner AND #status = :processing'
            : 'attribute_exists(pk) AND (#status = :pending OR (#status = :processing AND leaseUntil < :nowMs))',
          ExpressionAttributeNames: {
            '#status': 'status',
            '#error': 'error',
            ...(owned ? { '#owner': 'owner' } : {}),
          },
          ExpressionAttributeValues: {
            ':failed': 'failed',
            ':processing': 'processing',
            ':error': error,
            ':now': now,
            ...(owned ? { ':owner': guard.owner } : { ':pending': 'pending', ':nowMs': guard.unclaimedAt }),
          },
        }),
      )
      .then(
        () => true,
        (e: unknown) => {
          if (!isConditionFailure(e)) throw e;
          return false;
        },
      );
    if (failed) await campaigns.releaseLock(appId, campaignId, uploadId, recipientCount);
    return failed;
  }

  /**
   * Takes the campaign's import lock for an inline add of recipients.
   *
   * @throws ConflictError when the campaign is not a draft or an import is running.
   */
  async function lockForInlineAdd(appId: string, campaignId: string, lockId: string): Promise<void> {
    if (!(await campaigns.takeLock(appId, campaignId, lockId)))
      throw await campaignConflict(appId, campaignId);
  }

  /**
   * Releases a lock whose import can no longer finish: its lease ran out (the importer
   * died and its retries are spent), its direct upload never reached S3, or it already
   * ended. Returns true when the campaign is free afterwards.
   */
  async function releaseStaleLock(campaign: Campaign, now = Date.now()): Promise<boolean> {
    const lockId = campaign.importingUploadId;
    if (!lockId) return true;
    // An inline add, or a follow-up's copy (its backstop schedule finishes it), is never stale.
    if (lockId.startsWith('inline:') || lockId.startsWith('followup:')) return false;
    const upload = await findUpload(campaign.appId, campaign.id, lockId);
    const stale =
      !upload ||
      upload.status === 'completed' ||
      upload.status === 'failed' ||
      (upload.status === 'processing' && (upload.leaseUntil ?? 0) < now - leaseMs()) ||
      (upload.status === 'pending' && Date.parse(upload.updatedAt) < now - PENDING_LOCK_MS);
    if (!stale) return false;
    // The dead import may have written some recipients: the campaign's count must say so.
    const recipientCount = await recipients.countRecipients(campaign.appId, campaign.id);
    if (upload && upload.status !== 'completed' && upload.status !== 'failed') {
      // Not failed when a retry claimed it meanwhile: the lock is that import's again.
      return failUpload(
        campaign.appId,
        campaign.id,
        lockId,
        {
          code: 'ERR_OPERATION_FAILED',
          message: 'The import stopped before it finished; upload the file again.',
        },
        { unclaimedAt: upload.status === 'processing' ? now - leaseMs() : now },
        recipientCount,
      );
    }
    await campaigns.releaseLock(campaign.appId, campaign.id, lockId, recipientCount);
    return true;
  }

  /**
   * Hands an upload back after a failure that a retry may fix (the campaign lock stays
   * with the upload): the next attempt can claim it at once instead of waiting out the lease.
   */
  async function releaseClaim(
    appId: string,
    campaignId: string,
    uploadId: string,
    owner: string,
  ): Promise<void> {
    await table.client
      .send(
        new UpdateCommand({
          TableName: table.tableName,
          Key: uploadKey(appId, campaignId, uploadId),
          UpdateExpression: 'SET #status = :pending, updatedAt = :now REMOVE #owner, leaseUntil',
          ConditionExpression: '#owner = :owner AND #status = :processing',
          ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
          ExpressionAttributeValues: {
            ':owner': owner,
            ':pending': 'pending',
            ':processing': 'processing',
            ':now': new Date().toISOString(),
          },
        }),
      )
      .catch((e: unknown) => {
        if (!isConditionFailure(e)) throw e;
      });
  }

  return {
    findUpload,
    getUpload,
    createUpload,
    createUploadLocked,
    claimUpload,
    completeDryRun,
    recordProgress,
    completeUpload,
    failUpload,
    lockForInlineAdd,
    releaseStaleLock,
    releaseClaim,
    releaseLock: campaigns.releaseLock,
  };
}

export type UploadsStore = ReturnType<typeof createUploadsStore>;

/** The uploads store on the handlers' table. */
export const {
  findUpload,
  getUpload,
  createUpload,
  createUploadLocked,
  claimUpload,
  completeDryRun,
  recordProgress,
  completeUpload,
  failUpload,
  lockForInlineAdd,
  releaseStaleLock,
  releaseClaim,
} = createUploadsStore(handlerTable);
