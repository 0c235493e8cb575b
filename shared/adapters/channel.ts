/**
 * The delivery channel of this process, picked once from `deliveryConfig`
 * (`DELIVERY_CHANNEL=outbox|webhook|sns`; see docs/delivery.md): the deployment's
 * default channel, for apps without a destination of their own.
 */

import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { createDefaultWebhookSecret } from '#shared/adapters/default-webhook-secret.ts';
import { createOutboxChannel } from '#shared/adapters/outbox-channel.ts';
import { createSnsChannel } from '#shared/adapters/sns-channel.ts';
import { createWebhookChannel } from '#shared/adapters/webhook-channel.ts';
import { deliveryConfig } from '#shared/config.ts';
import type { DeliveryChannel } from '#shared/domain/channel.ts';
import { tracer } from '#shared/observability.ts';

export type DeliveryConfig = ReturnType<typeof deliveryConfig>;

/** Timeouts and retries of every webhook channel, the default one and each app's, from configuration. */
export function webhookTimingOf(config: DeliveryConfig) {
  return {
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    maxAttempts: config.WEBHOOK_MAX_ATTEMPTS,
    baseDelayMs: config.WEBHOOK_BASE_DELAY_MS,
    maxDelayMs: config.WEBHOOK_MAX_DELAY_MS,
    maxRetryAfterMs: config.WEBHOOK_MAX_RETRY_AFTER_MS,
  };
}

/** The one signing secret of the default webhook, as the webhook channel asks for its list. */
const signingSecrets = (get: () => Promise<string>) => async () => [await get()];

/**
 * The channel `config` describes; throws a message naming the variable when one is
 * missing. Only the chosen channel's SDK client is created (traced).
 */
export function channelFromConfig(config: DeliveryConfig): DeliveryChannel {
  if (config.DELIVERY_CHANNEL === 'outbox') return createOutboxChannel({ path: config.OUTBOX_PATH });
  if (config.DELIVERY_CHANNEL === 'sns') {
    if (config.SNS_TOPIC_ARN === undefined) {
      throw new Error(
        'Invalid delivery configuration: SNS_TOPIC_ARN: required when DELIVERY_CHANNEL=sns (the ARN of the topic each message is published to)',
      );
    }
    return createSnsChannel({
      client: tracer.captureAWSv3Client(new SNSClient({})),
      topicArn: config.SNS_TOPIC_ARN,
    });
  }
  if (config.WEBHOOK_URL === undefined) {
    throw new Error('Invalid delivery configuration: WEBHOOK_URL: required when DELIVERY_CHANNEL=webhook');
  }
  return createWebhookChannel({
    url: config.WEBHOOK_URL,
    maxBatchSize: config.WEBHOOK_BATCH_SIZE,
    ...webhookTimingOf(config),
    ...(config.WEBHOOK_SECRET_ARN === undefined
      ? {}
      : {
          secrets: signingSecrets(
            createDefaultWebhookSecret({
              client: tracer.captureAWSv3Client(new SecretsManagerClient({})),
              secretArn: config.WEBHOOK_SECRET_ARN,
            }),
          ),
        }),
  });
}

/** The default channel of this process, created at cold start from the environment. */
export const deliveryChannel: DeliveryChannel = channelFromConfig(deliveryConfig());
