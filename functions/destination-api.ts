/**
 * API function for the app's destination: `/api/destination…` routes of `infra/routes.ts`
 * (docs/api.md, Destinations). A signing secret is answered in plain text twice at most
 * in its life: when it is created (the first webhook `PUT`) and by the rotation that
 * creates the next one. Neither the secret nor its ciphertext is ever logged.
 */
import { z } from 'zod';
import { secretCipher } from '#shared/adapters/secret-cipher.ts';
import { sendTestEvent } from '#shared/adapters/webhook-channel.ts';
import { destinationConfig, paceConfig } from '#shared/config.ts';
import { checkDestinationUrl, checkResolvedUrl } from '#shared/domain/destination-url.ts';
import {
  destinationView,
  MAX_DESTINATION_BATCH_SIZE,
  MAX_DESTINATION_URL_LENGTH,
  MAX_RATE_PER_SECOND,
  MIN_RATE_PER_SECOND,
  signingSecretsOf,
  webhookOf,
} from '#shared/domain/destinations.ts';
import { ConflictError, InvalidInputError } from '#shared/errors.ts';
import { createApiHandler } from '#shared/http/api-handler.ts';
import { bodyBytes, jsonBody } from '#shared/http/request.ts';
import { data } from '#shared/http/responses.ts';
import { putDestination, readDestination, rotateSecret } from '#shared/store/destinations.ts';

const config = destinationConfig();
const policy = { allowLoopback: config.DESTINATION_ALLOW_LOOPBACK };
/** Shown as the default destination's `ratePerSecond`. */
const defaultRate = paceConfig().DELIVERY_RATE_PER_SECOND;

const putBody = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('default') }).strict(),
  z
    .object({
      kind: z.literal('webhook'),
      url: z.string().min(1).max(MAX_DESTINATION_URL_LENGTH),
      batchSize: z.number().int().min(1).max(MAX_DESTINATION_BATCH_SIZE).optional(),
      ratePerSecond: z.number().min(MIN_RATE_PER_SECOND).max(MAX_RATE_PER_SECOND).nullable().optional(),
    })
    .strict(),
]);

/** These routes take no input: a body, if any, must be `{}` (an `appId` in it is refused, not ignored). */
const noInput = z.object({}).strict();
function emptyBody(event: Parameters<typeof jsonBody>[0]): void {
  if (bodyBytes(event).length > 0) jsonBody(event, noInput);
}

/** The URL as it will be called, or a 400 naming the rule it breaks. */
async function acceptedUrl(raw: string): Promise<string> {
  const checked = checkDestinationUrl(raw, policy);
  if (!checked.ok) throw new InvalidInputError(checked.message, { field: 'url', rule: checked.rule });
  const resolved = await checkResolvedUrl(checked.url, policy);
  if (!resolved.ok) throw new InvalidInputError(resolved.message, { field: 'url', rule: resolved.rule });
  return checked.url.href;
}

export const handler = createApiHandler({
  'GET /api/destination': async ({ appId }) =>
    data(destinationView(await readDestination(appId), defaultRate)),

  'PUT /api/destination': async ({ event, appId }) => {
    const input = jsonBody(event, putBody);
    const { item, signingSecret } = await putDestination(
      appId,
      input.kind === 'default'
        ? input
        : {
            kind: 'webhook',
            url: await acceptedUrl(input.url),
            batchSize: input.batchSize ?? MAX_DESTINATION_BATCH_SIZE,
            ratePerSecond: input.ratePerSecond ?? null,
          },
      secretCipher,
    );
    return data({
      ...destinationView(item, defaultRate),
      ...(signingSecret === undefined ? {} : { signingSecret }),
    });
  },

  'POST /api/destination/rotate-secret': async ({ event, appId }) => {
    emptyBody(event);
    const { signingSecret } = await rotateSecret(appId, secretCipher);
    return data({ signingSecret });
  },

  'POST /api/destination/test': async ({ event, appId }) => {
    emptyBody(event);
    const item = webhookOf(await readDestination(appId));
    if (!item) {
      throw new ConflictError(
        "This app's destination is the deployment's default, which has no test send: set a webhook with PUT /api/destination first.",
      );
    }
    const answer = await sendTestEvent({
      url: item.url,
      appId,
      secrets: await signingSecretsOf(item, secretCipher),
      timeoutMs: config.DESTINATION_TEST_TIMEOUT_MS,
      policy,
    });
    return data(answer);
  },
});
