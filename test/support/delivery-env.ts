/**
 * Test helper: a fresh copy of the configuration and channel modules under the delivery
 * variables given (the others unset), as a cold start reads them. Config sections are read
 * once per module instance, so errors thrown by them are compared by name, not by class.
 * Undo with `vi.unstubAllEnvs()` and `vi.resetModules()` after each test.
 */
import { vi } from 'vitest';

const VARIABLES = [
  'DELIVERY_CHANNEL',
  'SNS_TOPIC_ARN',
  'OUTBOX_PATH',
  'WEBHOOK_URL',
  'WEBHOOK_BATCH_SIZE',
  'WEBHOOK_SECRET_ARN',
  'WEBHOOK_SECRET',
  'WEBHOOK_TIMEOUT_MS',
  'WEBHOOK_MAX_ATTEMPTS',
  'WEBHOOK_BASE_DELAY_MS',
  'WEBHOOK_MAX_DELAY_MS',
  'WEBHOOK_MAX_RETRY_AFTER_MS',
];

export async function loadDelivery(env: Record<string, string>) {
  for (const name of VARIABLES) vi.stubEnv(name, env[name] ?? '');
  for (const name of VARIABLES) if (env[name] === undefined) delete process.env[name];
  vi.resetModules();
  const config = await import('#shared/config.ts');
  const channel = await import('#shared/adapters/channel.ts').catch((error: unknown) => error as Error);
  return { config, channel };
}

/** A batch of one message to one user. */
export const oneMessageBatch = {
  appId: 'a',
  campaignId: 'c',
  messages: [{ userId: 'u', title: null, body: 'b', idempotencyKey: 'c:u' }],
};
