/**
 * Campaign rules of the API (docs/api.md, Campaigns), pure: the create request and its
 * limits, a new campaign's initial shape, and the shape the API shows.
 */
import { z } from 'zod';
import { FINAL_CAMPAIGN_STATUSES } from '#shared/domain/campaign-status.ts';
import { ConflictError, InvalidInputError } from '#shared/errors.ts';
import { type CampaignProgress, progressOf } from './campaign-progress.ts';
import {
  CAMPAIGN_STATUSES,
  type Campaign,
  type CampaignStatus,
  RECIPIENT_STATUSES,
  type RecipientStatus,
} from './model.ts';

/** Limits of a campaign's fields (documented in docs/api-quickstart.md). */
export const CAMPAIGN_LIMITS = {
  nameMaxLength: 200,
  tagMaxLength: 100,
  idMaxLength: 100,
} as const;

/** Body of `POST /api/campaigns`. */
export const createCampaignBody = z
  .object({
    name: z.string().trim().min(1).max(CAMPAIGN_LIMITS.nameMaxLength),
    templateId: z.string().min(1).max(CAMPAIGN_LIMITS.idMaxLength),
    tag: z.string().trim().min(1).max(CAMPAIGN_LIMITS.tagMaxLength).optional(),
  })
  .strict();
export type CreateCampaignInput = z.infer<typeof createCampaignBody>;

/** A new draft campaign: no recipients, every count 0. */
export function newCampaign(
  input: CreateCampaignInput,
  ids: { id: string; appId: string; now: string },
): Campaign {
  return {
    id: ids.id,
    appId: ids.appId,
    name: input.name,
    templateId: input.templateId,
    ...(input.tag === undefined ? {} : { tag: input.tag }),
    status: 'draft',
    recipientCount: 0,
    scheduledAt: null,
    counts: countsOf({}),
    createdAt: ids.now,
    updatedAt: ids.now,
  };
}

function countsOf(counts: Partial<Campaign['counts']>): Campaign['counts'] {
  return Object.fromEntries(RECIPIENT_STATUSES.map((s) => [s, counts[s] ?? 0])) as Campaign['counts'];
}

/** A campaign as the API returns it: every documented field present (`tag` null when unset). */
export interface CampaignView {
  id: string;
  appId: string;
  name: string;
  templateId: string;
  tag: string | null;
  status: CampaignStatus;
  recipientCount: number;
  scheduledAt: string | null;
  counts: Campaign['counts'];
  createdAt: string;
  updatedAt: string;
  completedAt?: string;
  /** Follow-ups only: the source campaign. */
  followUpOf?: string;
  /** Follow-ups only: the source's recipient statuses copied. */
  followUpStatuses?: RecipientStatus[];
  /** Follow-ups only: true while the recipients are being copied (the campaign cannot be sent yet). */
  copying?: boolean;
  /** While `sending`, in the answer of `GET /api/campaigns/{id}` only: the rate and expected end. */
  progress?: CampaignProgress;
}

/** What a campaign's progress is measured against: the time and the app's pace limit. */
export interface ProgressContext {
  /** Epoch ms. */
  now: number;
  /** The app's pace limit (messages per second), null when none. */
  limitPerSecond: number | null;
}

/**
 * The API's view of a campaign; internal bookkeeping (the running import, the rate
 * slots) stays inside. Given `at`, a `sending` campaign shows its `progress` at that time.
 */
export function campaignView(campaign: Campaign, at?: ProgressContext): CampaignView {
  const counts = countsOf(campaign.counts);
  return {
    id: campaign.id,
    appId: campaign.appId,
    name: campaign.name,
    templateId: campaign.templateId,
    tag: campaign.tag ?? null,
    status: campaign.status,
    recipientCount: campaign.recipientCount,
    scheduledAt: campaign.scheduledAt,
    // In status order, whatever order the stored map comes back in.
    counts,
    createdAt: campaign.createdAt,
    updatedAt: campaign.updatedAt,
    ...(campaign.completedAt ? { completedAt: campaign.completedAt } : {}),
    ...(campaign.followUpOf === undefined
      ? {}
      : {
          followUpOf: campaign.followUpOf,
          followUpStatuses: campaign.followUpStatuses ?? [],
          copying: campaign.importingUploadId === followUpLock(campaign.id),
        }),
    ...(at && campaign.status === 'sending'
      ? {
          progress: progressOf({
            startedAt: campaign.startedAt,
            slots: campaign.settledBySlot ?? new Map(),
            settled: counts.sent + counts.failed + counts.skipped,
            total: campaign.recipientCount,
            now: at.now,
            limitPerSecond: at.limitPerSecond,
          }),
        }
      : {}),
  };
}

/** The lock a follow-up's draft holds (as `importingUploadId`) until its recipients are copied. */
export const followUpLock = (campaignId: string) => `followup:${campaignId}`;

/*
 * A campaign's state refusing recipients or a send. The API checks it before writing and
 * the store's conditional write refuses the same states (a race the check lost), in the
 * same words, written here once.
 */

/** Recipients offered to a campaign that is no longer a draft. */
export const recipientsNeedDraftError = (campaignId: string, status: string) =>
  new ConflictError(
    `Campaign '${campaignId}' is ${status}; recipients can only be added to a draft campaign.`,
    { campaignId, status },
  );

/** Recipients offered while an import (or another add) holds the campaign's lock, `uploadId` when known. */
export const importRunningError = (campaignId: string, uploadId: string | undefined) =>
  new ConflictError(
    `An import is already running for campaign '${campaignId}'${uploadId === undefined ? '' : ` (upload '${uploadId}')`}; wait for it to finish, then try again.`,
    { campaignId, uploadId },
  );

/** A send while an import holds the campaign's lock. */
export const sendDuringImportError = (campaignId: string, uploadId: string) =>
  new ConflictError(
    `Campaign '${campaignId}' has an import running (upload '${uploadId}'); send it once the upload is completed.`,
    { campaignId, uploadId },
  );

/** A send of a campaign with no recipients. */
export const noRecipientsError = (campaignId: string) =>
  new ConflictError(`Campaign '${campaignId}' has no recipients; upload a CSV or add recipients first.`, {
    campaignId,
  });

/** Source statuses a follow-up can be made from: the finished ones. */
export const FOLLOW_UP_SOURCE_STATUSES = FINAL_CAMPAIGN_STATUSES;
/** Recipient statuses a follow-up can copy: never `sent` (those were delivered). */
export const FOLLOW_UP_STATUSES = ['failed', 'skipped', 'pending'] as const;

/** Body of `POST /api/campaigns/{id}/follow-up`. */
export const followUpBody = z
  .object({
    name: z.string().trim().min(1).max(CAMPAIGN_LIMITS.nameMaxLength),
    statuses: z
      .array(z.string())
      .min(1, `give at least one recipient status to copy: ${FOLLOW_UP_STATUSES.join(', ')}`)
      .max(RECIPIENT_STATUSES.length)
      .superRefine((statuses, ctx) => {
        for (const status of statuses) {
          if (status === 'sent') {
            ctx.addIssue({
              code: 'custom',
              message: `'sent' recipients were delivered and are never in a follow-up; use ${FOLLOW_UP_STATUSES.join(', ')}`,
            });
          } else if (!(FOLLOW_UP_STATUSES as readonly string[]).includes(status)) {
            ctx.addIssue({
              code: 'custom',
              message: `'${status.slice(0, 40)}' is not a status a follow-up copies; use ${FOLLOW_UP_STATUSES.join(', ')}`,
            });
          }
        }
      })
      .transform((statuses) => [...new Set(statuses)] as (typeof FOLLOW_UP_STATUSES)[number][]),
    templateId: z.string().min(1).max(CAMPAIGN_LIMITS.idMaxLength).optional(),
    tag: z.string().trim().min(1).max(CAMPAIGN_LIMITS.tagMaxLength).optional(),
  })
  .strict();
export type FollowUpInput = z.infer<typeof followUpBody>;

/** `?status=` of a campaign listing: a campaign status, or an `InvalidInputError` listing the valid ones. */
export function parseCampaignStatusFilter(value: string | undefined): CampaignStatus | undefined {
  if (value === undefined) return undefined;
  if ((CAMPAIGN_STATUSES as readonly string[]).includes(value)) return value as CampaignStatus;
  throw new InvalidInputError(
    `status '${value}' is not a campaign status; use one of ${CAMPAIGN_STATUSES.join(', ')}.`,
    { field: 'status', allowed: CAMPAIGN_STATUSES },
  );
}
