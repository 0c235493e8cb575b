/**
 * The delivery channel of this process, picked once from `deliveryConfig`
 * (`DELIVERY_CHANNEL=outbox|webhook`; see docs/delivery.md).
 */

import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createDefaultWebhookSecret } from '#shared/adapters/default-webhook-secret.ts';
import { createOutboxChannel } from '#shared/adapters/outbox-channel.ts';
import { createWebhookChannel } from '#shared/adapters/webhook-channel.ts';
import { deliveryConfig } from '#shared/config.ts';
import type { DeliveryChannel } from '#shared/domain/channel.ts';
import { tracer } from '#shared/observability.ts';

export type DeliveryConfig = ReturnType<typeof deliveryConfig>;

/** The channel `config` describes; throws a message naming the variable when one is missing. */
export function channelFromConfig(config: DeliveryConfig): DeliveryChannel {
  if (config.DELIVERY_CHANNEL === 'outbox') return createOutboxChannel({ path: config.OUTBOX_PATH });
  if (config.WEBHOOK_URL === undefined) {
    throw new Error('Invalid delivery configuration: WEBHOOK_URL: required when DELIVERY_CHANNEL=webhook');
  }
  return createWebhookChannel({
    url: config.WEBHOOK_URL,
    maxBatchSize: config.WEBHOOK_BATCH_SIZE,
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    maxAttempts: config.WEBHOOK_MAX_ATTEMPTS,
    baseDelayMs: config.WEBHOOK_BASE_DELAY_MS,
    maxDelayMs: config.WEBHOOK_MAX_DELAY_MS,
    maxRetryAfterMs: config.WEBHOOK_MAX_RETRY_AFTER_MS,
    ...(config.WEBHOOK_SECRET_ARN === undefined
      ? {}
      : {
          secret: createDefaultWebhookSecret({
            client: tracer.captureAWSv3Client(new SecretsManagerClient({})),
            secretArn: config.WEBHOOK_SECRET_ARN,
          }),
        }),
  });
}

/** The channel of this process, created at cold start. */
export const deliveryChannel: DeliveryChannel = channelFromConfig(deliveryConfig());
