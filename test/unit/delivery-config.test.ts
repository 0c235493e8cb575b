import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readOutbox } from '#shared/adapters/outbox-channel.ts';

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

/**
 * A fresh copy of the modules (config sections are read once per module instance), so
 * errors thrown by them are compared by name, not by class.
 */
async function load(env: Record<string, string>) {
  for (const name of VARIABLES) vi.stubEnv(name, env[name] ?? '');
  for (const name of VARIABLES) if (env[name] === undefined) delete process.env[name];
  vi.resetModules();
  const config = await import('#shared/config.ts');
  const channel = await import('#shared/adapters/channel.ts').catch((error: unknown) => error as Error);
  return { config, channel };
}

const batch = {
  appId: 'a',
  campaignId: 'c',
  messages: [{ userId: 'u', title: null, body: 'b', idempotencyKey: 'c:u' }],
};

afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe('deliveryConfig', () => {
  it('defaults to the outbox channel at .data/outbox.jsonl and documented webhook settings', async () => {
    const { config } = await load({});
    expect(config.deliveryConfig()).toEqual({
      DELIVERY_CHANNEL: 'outbox',
      SNS_TOPIC_ARN: undefined,
      OUTBOX_PATH: '.data/outbox.jsonl',
      WEBHOOK_URL: undefined,
      WEBHOOK_BATCH_SIZE: 100,
      WEBHOOK_SECRET_ARN: undefined,
      WEBHOOK_TIMEOUT_MS: 5000,
      WEBHOOK_MAX_ATTEMPTS: 3,
      WEBHOOK_BASE_DELAY_MS: 200,
      WEBHOOK_MAX_DELAY_MS: 2000,
      WEBHOOK_MAX_RETRY_AFTER_MS: 5000,
    });
  });

  it('reads numbers and treats empty variables as unset', async () => {
    const { config } = await load({
      DELIVERY_CHANNEL: 'webhook',
      WEBHOOK_URL: 'https://hooks.example.com/deliver',
      WEBHOOK_SECRET_ARN: '',
      WEBHOOK_TIMEOUT_MS: '1500',
      WEBHOOK_MAX_ATTEMPTS: '5',
      WEBHOOK_BATCH_SIZE: '25',
    });
    expect(config.deliveryConfig()).toMatchObject({
      DELIVERY_CHANNEL: 'webhook',
      WEBHOOK_URL: 'https://hooks.example.com/deliver',
      WEBHOOK_SECRET_ARN: undefined,
      WEBHOOK_TIMEOUT_MS: 1500,
      WEBHOOK_MAX_ATTEMPTS: 5,
      WEBHOOK_BATCH_SIZE: 25,
    });
  });

  it.each([
    [{ DELIVERY_CHANNEL: 'sms' }, /DELIVERY_CHANNEL/],
    [{ WEBHOOK_URL: 'not a url' }, /WEBHOOK_URL/],
    [{ WEBHOOK_URL: 'ftp://example.com/x' }, /WEBHOOK_URL/],
    [{ WEBHOOK_TIMEOUT_MS: 'soon' }, /WEBHOOK_TIMEOUT_MS/],
    [{ WEBHOOK_MAX_ATTEMPTS: '0' }, /WEBHOOK_MAX_ATTEMPTS/],
    [{ WEBHOOK_BATCH_SIZE: '0' }, /WEBHOOK_BATCH_SIZE/],
    [{ WEBHOOK_BATCH_SIZE: '101' }, /WEBHOOK_BATCH_SIZE/],
    [{ WEBHOOK_BATCH_SIZE: '2.5' }, /WEBHOOK_BATCH_SIZE/],
    [{ WEBHOOK_BATCH_SIZE: 'many' }, /WEBHOOK_BATCH_SIZE/],
    [{ SNS_TOPIC_ARN: 'csv-campaigns-default' }, /SNS_TOPIC_ARN: must be the ARN of a standard SNS topic/],
    [
      { SNS_TOPIC_ARN: 'arn:aws:sqs:us-east-1:123456789012:queue' },
      /SNS_TOPIC_ARN: must be the ARN of a standard SNS topic/,
    ],
    [{ WEBHOOK_SECRET_ARN: 'my-secret' }, /WEBHOOK_SECRET_ARN: must be the ARN of a Secrets Manager secret/],
    [
      { WEBHOOK_SECRET_ARN: 'arn:aws:sns:us-east-1:123456789012:topic' },
      /WEBHOOK_SECRET_ARN: must be the ARN of a Secrets Manager secret/,
    ],
  ])('fails with a message naming the variable for %j', async (env, name) => {
    const { config } = await load(env);
    expect(() => config.deliveryConfig()).toThrow(/^Invalid delivery configuration: /);
    expect(() => config.deliveryConfig()).toThrow(name);
  });
});

describe('the plain-text WEBHOOK_SECRET of earlier versions', () => {
  it('fails the cold start when still set, saying where the secret goes now', async () => {
    const { config } = await load({ DELIVERY_CHANNEL: 'webhook', WEBHOOK_SECRET: 's3cret' });
    expect(() => config.deliveryConfig()).toThrow(
      'Invalid delivery configuration: WEBHOOK_SECRET: no longer read: put the signing secret in Secrets Manager, set WEBHOOK_SECRET_ARN to its ARN and unset WEBHOOK_SECRET',
    );
    expect(() => config.deliveryConfig()).not.toThrow(/s3cret/);
  });

  it('reads a Secrets Manager ARN as WEBHOOK_SECRET_ARN', async () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:csv-campaigns/default-webhook-AbCdEf';
    const { config } = await load({ WEBHOOK_SECRET_ARN: arn });
    expect(config.deliveryConfig().WEBHOOK_SECRET_ARN).toBe(arn);
  });
});

describe('delivery channel from configuration', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('is the outbox channel by default, writing to OUTBOX_PATH', async () => {
    dir = await mkdtemp(join(tmpdir(), 'channel-'));
    const path = join(dir, 'outbox.jsonl');
    const { channel } = await load({ OUTBOX_PATH: path });
    if (channel instanceof Error) throw channel;
    expect(channel.deliveryChannel.name).toBe('outbox');
    expect(channel.deliveryChannel.maxBatchSize).toBe(100);
    expect(await channel.deliveryChannel.deliverBatch(batch)).toEqual([{ status: 'accepted' }]);
    expect((await readOutbox(path)).map((e) => e.userId)).toEqual(['u']);
  });

  it('fails at load when DELIVERY_CHANNEL=webhook has no WEBHOOK_URL', async () => {
    const { channel } = await load({ DELIVERY_CHANNEL: 'webhook' });
    expect(channel).toBeInstanceOf(Error);
    expect((channel as Error).message).toBe(
      'Invalid delivery configuration: WEBHOOK_URL: required when DELIVERY_CHANNEL=webhook',
    );
  });

  it('fails at load when DELIVERY_CHANNEL=sns has no SNS_TOPIC_ARN', async () => {
    const { channel } = await load({ DELIVERY_CHANNEL: 'sns' });
    expect(channel).toBeInstanceOf(Error);
    expect((channel as Error).message).toBe(
      'Invalid delivery configuration: SNS_TOPIC_ARN: required when DELIVERY_CHANNEL=sns (the ARN of the topic each message is published to)',
    );
  });

  it('is the SNS channel of a whole chunk a call when DELIVERY_CHANNEL=sns, on SNS_TOPIC_ARN', async () => {
    const { channel } = await load({
      DELIVERY_CHANNEL: 'sns',
      SNS_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:csv-campaigns-default',
    });
    if (channel instanceof Error) throw channel;
    expect(channel.deliveryChannel.name).toBe('sns');
    expect(channel.deliveryChannel.maxBatchSize).toBe(100);
  });

  it('is the webhook channel with the configured attempts when DELIVERY_CHANNEL=webhook', async () => {
    let requests = 0;
    const server = createServer((_req, res) => {
      requests += 1;
      res.writeHead(503).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const { channel } = await load({
        DELIVERY_CHANNEL: 'webhook',
        WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
        WEBHOOK_MAX_ATTEMPTS: '2',
        WEBHOOK_BASE_DELAY_MS: '0',
        WEBHOOK_BATCH_SIZE: '7',
      });
      if (channel instanceof Error) throw channel;
      expect(channel.deliveryChannel.name).toBe('webhook');
      expect(channel.deliveryChannel.maxBatchSize).toBe(7);
      await expect(channel.deliveryChannel.deliverBatch(batch)).rejects.toMatchObject({
        name: 'TransientDeliveryError',
        attempts: 2,
      });
      expect(requests).toBe(2);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
