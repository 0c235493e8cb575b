/**
 * API function for one-call sends: `POST /api/notifications/send` (docs/api.md, One-call
 * send). The targets are stored as the recipients of a hidden campaign already
 * `sending`, then delivered by the same send function, queue and consumer as a campaign.
 */
import { z } from 'zod';
import { armSendFunction, startSendFunction } from '#shared/adapters/send-function.ts';
import { NOTIFICATION_ID_PREFIX, storeAppId } from '#shared/domain/sending.ts';
import { checkInlineVariables, invalidVariablesError } from '#shared/domain/variables.ts';
import { InvalidInputError, TargetLimitExceededError, TemplateNotApprovedError } from '#shared/errors.ts';
import { createApiHandler } from '#shared/http/api-handler.ts';
import { idempotent } from '#shared/http/idempotency.ts';
import { jsonBody } from '#shared/http/request.ts';
import { data } from '#shared/http/responses.ts';
import { createNotification, findCampaign } from '#shared/store/campaigns.ts';
import { getTemplate } from '#shared/store/templates.ts';

/** Most targets of one call (docs/api.md). */
export const MAX_TARGETS = 10_000;
/** The CSV rule for a `user_id` (docs/csv.md), applied to inline targets too. */
const USER_ID = /^[A-Za-z0-9_@.:-]{1,100}$/;

const sendBody = z
  .object({
    template: z.object({ id: z.string().min(1).max(100), variables: z.unknown().optional() }).strict(),
    targets: z.array(z.string()).min(1, 'give at least one target user id'),
    variables: z.unknown().optional(),
  })
  .strict();

export const handler = createApiHandler({
  // With an Idempotency-Key, a retry answers the first send's notification (shared/http/idempotency.ts).
  'POST /api/notifications/send': idempotent(NOTIFICATION_ID_PREFIX.slice(0, -1), async (request) => {
    const { event, appId, resourceId: id } = request;
    const input = jsonBody(event, sendBody);
    if (input.targets.length > MAX_TARGETS)
      throw new TargetLimitExceededError(input.targets.length, MAX_TARGETS);
    const invalid = input.targets.filter((userId) => !USER_ID.test(userId));
    if (invalid.length > 0) {
      throw new InvalidInputError(
        `targets must be user ids of 1-100 letters, digits, _ @ . : or -; invalid: ${invalid
          .slice(0, 5)
          .map((u) => JSON.stringify(u))
          .join(', ')}${invalid.length > 5 ? ` and ${invalid.length - 5} more` : ''}.`,
        { field: 'targets' },
      );
    }
    const template = await getTemplate(appId, input.template.id);
    if (template.status !== 'approved') throw new TemplateNotApprovedError(template.id, template.status);
    const check = checkInlineVariables(template.variableSchema, {
      userIds: input.targets,
      perUser: input.variables,
      shared: input.template.variables,
    });
    if (!check.ok) throw invalidVariablesError(check.problems);

    if (request.resumed) {
      // A retry after a run that died: the notification it stored is sent already (or by its backstop).
      const stored = await findCampaign(storeAppId(appId, id), id);
      if (stored) return data({ notificationId: id, total: stored.recipientCount }, 202);
    }
    await armSendFunction(appId, id);
    const notification = await createNotification({
      id,
      appId,
      templateId: template.id,
      recipients: check.values,
      now: new Date().toISOString(),
    });
    await startSendFunction(appId, notification.id);
    return data({ notificationId: notification.id, total: notification.recipientCount }, 202);
  }),
});
