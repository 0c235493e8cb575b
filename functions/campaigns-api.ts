/** API function for campaigns: `/api/campaigns…` routes of `infra/routes.ts`. */
import { z } from 'zod';
import {
  createCampaignSchedule,
  deleteCampaignSchedule,
  ScheduleExistsError,
} from '#shared/adapters/scheduler.ts';
import { armSendFunction, startSendFunction } from '#shared/adapters/send-function.ts';
import { paceConfig } from '#shared/config.ts';
import { canTransition, statusesBefore } from '#shared/domain/campaign-status.ts';
import {
  campaignView,
  createCampaignBody,
  FOLLOW_UP_SOURCE_STATUSES,
  followUpBody,
  followUpLock,
  newCampaign,
  noRecipientsError,
  parseCampaignStatusFilter,
  sendDuringImportError,
} from '#shared/domain/campaigns.ts';
import { paceOf } from '#shared/domain/destinations.ts';
import { newId, recipientPk, recipientsByStatusPk } from '#shared/domain/keys.ts';
import { RECIPIENT_STATUSES, type RecipientStatus } from '#shared/domain/model.ts';
import { describeProblem, PROBLEMS_SHOWN } from '#shared/domain/variables.ts';
import {
  ConflictError,
  InvalidInputError,
  InvalidVariablesError,
  TemplateNotApprovedError,
} from '#shared/errors.ts';
import { createApiHandler } from '#shared/http/api-handler.ts';
import { idempotent } from '#shared/http/idempotency.ts';
import { decodeCursor, encodeCursor, jsonBody, page, pathParameter, query } from '#shared/http/request.ts';
import { data, list } from '#shared/http/responses.ts';
import { recipientView } from '#shared/http/views.ts';
import { logger } from '#shared/observability.ts';
import {
  createCampaign,
  findCampaign,
  getCampaign,
  listCampaigns,
  startSending,
  transitionCampaign,
} from '#shared/store/campaigns.ts';
import { readDestination } from '#shared/store/destinations.ts';
import { followUpVariableProblems } from '#shared/store/follow-ups.ts';
import { listRecipients, type RecipientPosition } from '#shared/store/recipients.ts';
import { getTemplate } from '#shared/store/templates.ts';
import { releaseStaleLock } from '#shared/store/uploads.ts';

const deploymentPace = paceConfig();

/** Body of `POST /api/campaigns/{id}/send`: none, `{}`, or `{ scheduledAt }` in the future. */
const sendBody = z
  .object({
    scheduledAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

function sendView(campaign: { id: string; status: string; scheduledAt: string | null; updatedAt: string }) {
  return {
    id: campaign.id,
    status: campaign.status,
    scheduledAt: campaign.scheduledAt,
    updatedAt: campaign.updatedAt,
  };
}

/** `?status=` of a recipient listing: a recipient status, or a 400 listing the valid ones. */
function parseRecipientStatus(value: string | undefined): RecipientStatus | undefined {
  if (value === undefined) return undefined;
  if ((RECIPIENT_STATUSES as readonly string[]).includes(value)) return value as RecipientStatus;
  throw new InvalidInputError(
    `status '${value}' is not a recipient status; use one of ${RECIPIENT_STATUSES.join(', ')}.`,
    {
      field: 'status',
      allowed: RECIPIENT_STATUSES,
    },
  );
}

/** A recipient listing's cursor: the shard and key to go on from, checked to be this listing's. */
function recipientCursor(
  cursor: string | undefined,
  appId: string,
  campaignId: string,
  status: RecipientStatus | undefined,
): RecipientPosition | undefined {
  if (cursor === undefined) return undefined;
  const { shard, ...key } = decodeCursor(cursor, appId);
  const invalid = new InvalidInputError(
    'cursor is invalid for this listing; pass the meta.next value of the previous page with the same filters.',
    { field: 'cursor' },
  );
  if (typeof shard !== 'number' || !Number.isInteger(shard) || shard < 0) throw invalid;
  const partitionOk = status
    ? key.gsi1pk === recipientsByStatusPk(appId, campaignId, status, shard) &&
      key.pk === recipientPk(appId, campaignId, shard)
    : key.pk === recipientPk(appId, campaignId, shard) && Object.keys(key).length === 2;
  if (!partitionOk || typeof key.sk !== 'string') throw invalid;
  return { shard, key };
}

export const handler = createApiHandler({
  'POST /api/campaigns': async ({ event, appId }) => {
    const input = jsonBody(event, createCampaignBody);
    const campaign = newCampaign(input, { id: newId('cmp'), appId, now: new Date().toISOString() });
    // Checks in the same write that the template is this app's and approved (404 / 400).
    await createCampaign(campaign);
    return data(campaignView(campaign), 201);
  },

  'GET /api/campaigns': async ({ event, appId }) => {
    const status = parseCampaignStatusFilter(query(event).status);
    const { items, lastKey } = await listCampaigns(appId, page(event, appId), status);
    // No progress in a listing: it would read each sending campaign's destination.
    return list(
      items.map((campaign) => campaignView(campaign)),
      encodeCursor(lastKey),
    );
  },

  'GET /api/campaigns/{id}': async ({ event, appId }) => {
    const campaign = await getCampaign(appId, pathParameter(event, 'id'));
    if (campaign.status !== 'sending') return data(campaignView(campaign));
    // The ETA is capped by the pace the app's destination allows.
    const pace = paceOf(appId, await readDestination(appId), {
      ratePerSecond: deploymentPace.DELIVERY_RATE_PER_SECOND,
    });
    return data(campaignView(campaign, { now: Date.now(), limitPerSecond: pace?.ratePerSecond ?? null }));
  },

  'POST /api/campaigns/{id}/send': async ({ event, appId }) => {
    const id = pathParameter(event, 'id');
    const input = event.body ? jsonBody(event, sendBody) : {};
    const scheduledAt = input.scheduledAt === undefined ? undefined : new Date(input.scheduledAt);
    if (scheduledAt && scheduledAt.getTime() <= Date.now()) {
      throw new InvalidInputError(
        `scheduledAt must be in the future, got '${input.scheduledAt}'; omit it to send now.`,
        {
          field: 'scheduledAt',
        },
      );
    }
    const campaign = await getCampaign(appId, id);
    if (campaign.status !== 'draft') {
      throw new ConflictError(`Campaign '${id}' is ${campaign.status}; only a draft campaign can be sent.`, {
        campaignId: id,
        status: campaign.status,
      });
    }
    if (campaign.importingUploadId === followUpLock(id)) {
      throw new ConflictError(
        `Campaign '${id}' is a follow-up whose recipients are still being copied; send it once GET /api/campaigns/${id} shows copying: false.`,
        { campaignId: id, copying: true },
      );
    }
    if (campaign.importingUploadId && !(await releaseStaleLock(campaign))) {
      throw sendDuringImportError(id, campaign.importingUploadId);
    }
    // A released stale lock recounted the recipients: read the campaign again.
    const current = campaign.importingUploadId ? await getCampaign(appId, id) : campaign;
    if (current.recipientCount === 0) throw noRecipientsError(id);
    if (!scheduledAt) {
      // The conditional write lets exactly one of two racing sends through, and none past
      // an import that claimed the campaign after the checks above.
      await armSendFunction(appId, id);
      const sending = await startSending(appId, id, 'sending');
      await startSendFunction(appId, id);
      return data(sendView(sending), 202);
    }
    // Schedule first, then move the campaign: no scheduled campaign is ever without its
    // schedule, and no transition back to draft is needed when the scheduler fails.
    try {
      await createCampaignSchedule(appId, id, scheduledAt);
    } catch (error) {
      if (error instanceof ScheduleExistsError) {
        throw new ConflictError(`Campaign '${id}' is already being scheduled or sent.`, { campaignId: id });
      }
      throw error;
    }
    try {
      const scheduled = await startSending(appId, id, 'scheduled', {
        scheduledAt: scheduledAt.toISOString(),
      });
      return data(sendView(scheduled), 202);
    } catch (error) {
      // Lost a race (409) or failed: the schedule must not fire for this send.
      await deleteCampaignSchedule(id).catch((cause: unknown) =>
        logger.error('send: could not delete the schedule of a failed send', {
          campaignId: id,
          error: cause,
        }),
      );
      throw error;
    }
  },

  'POST /api/campaigns/{id}/cancel': async ({ event, appId }) => {
    const id = pathParameter(event, 'id');
    const campaign = await getCampaign(appId, id);
    // Recipients never put on the queue are swept to skipped by the send function.
    if (campaign.recipientCount > 0 && canTransition(campaign.status, 'cancelled'))
      await armSendFunction(appId, id);
    const cancelled = await transitionCampaign(appId, id, statusesBefore('cancelled'), 'cancelled');
    if (cancelled.scheduledAt !== null) await deleteCampaignSchedule(id);
    if (cancelled.recipientCount > 0) await startSendFunction(appId, id);
    return data(campaignView(cancelled));
  },

  // docs/api.md, Follow-up. With an Idempotency-Key a retry answers the same campaign;
  // the recipients are copied by the send function (shared/store/follow-ups.ts).
  'POST /api/campaigns/{id}/follow-up': idempotent('cmp', async (request) => {
    const { event, appId, resourceId: id } = request;
    const sourceId = pathParameter(event, 'id');
    const input = jsonBody(event, followUpBody);
    if (request.resumed) {
      // A retry after a run that died once it had stored the draft: that draft is the answer.
      const stored = await findCampaign(appId, id);
      if (stored) return data(campaignView(stored), 201);
    }
    const source = await getCampaign(appId, sourceId);
    if (!(FOLLOW_UP_SOURCE_STATUSES as readonly string[]).includes(source.status)) {
      throw new ConflictError(
        `Campaign '${sourceId}' is ${source.status}; a follow-up is made from a finished campaign (${FOLLOW_UP_SOURCE_STATUSES.join(', ')}). Wait for it to finish.`,
        { campaignId: sourceId, status: source.status },
      );
    }
    if (source.counts.pending + source.counts.queued > 0 && source.status === 'cancelled') {
      throw new ConflictError(
        `Campaign '${sourceId}' is cancelled and its recipients are still being settled (${source.counts.pending + source.counts.queued} left); retry in a moment.`,
        { campaignId: sourceId, status: source.status },
      );
    }
    const templateId = input.templateId ?? source.templateId;
    const template = await getTemplate(appId, templateId);
    if (template.status !== 'approved') throw new TemplateNotApprovedError(template.id, template.status);
    if (templateId !== source.templateId) {
      // Another template may require what the source's did not: every copied recipient must have it.
      const check = await followUpVariableProblems(
        appId,
        sourceId,
        input.statuses,
        template.variableSchema,
        PROBLEMS_SHOWN,
      );
      if (check.total > 0) {
        const more = check.total - check.problems.length;
        throw new InvalidVariablesError(
          `Invalid variables for template '${templateId}': ${check.problems.map(describeProblem).join('; ')}${more > 0 ? `; and ${more} more` : ''}. Choose another template, or omit templateId to keep '${source.templateId}'.`,
          { problems: check.problems, total: check.total, templateId },
        );
      }
    }
    const now = new Date().toISOString();
    const campaign = {
      ...newCampaign(
        { name: input.name, templateId, ...(input.tag ? { tag: input.tag } : {}) },
        { id, appId, now },
      ),
      followUpOf: sourceId,
      followUpStatuses: input.statuses,
      importingUploadId: followUpLock(id),
    };
    // Backstop first: should the invoke fail or this function die, the copy still runs.
    await armSendFunction(appId, id);
    await createCampaign(campaign);
    await startSendFunction(appId, id);
    return data(campaignView(campaign), 201);
  }),

  'GET /api/campaigns/{id}/recipients': async ({ event, appId }) => {
    const id = pathParameter(event, 'id');
    const q = query(event);
    const status = parseRecipientStatus(q.status);
    const { limit } = page(
      { ...event, queryStringParameters: { ...(q.limit ? { limit: q.limit } : {}) } },
      appId,
    );
    await getCampaign(appId, id);
    const from = recipientCursor(q.cursor, appId, id, status);
    const { items, next } = await listRecipients(appId, id, {
      limit,
      ...(from ? { from } : {}),
      ...(status ? { status } : {}),
    });
    return list(items.map(recipientView), next ? encodeCursor({ shard: next.shard, ...next.key }) : null);
  },
});
