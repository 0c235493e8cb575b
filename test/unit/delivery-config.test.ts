import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadDelivery as load } from '#test/support/delivery-env.ts';

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
});
