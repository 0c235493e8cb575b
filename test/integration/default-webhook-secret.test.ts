/**
 * The default webhook's signing secret, read from Secrets Manager (the local emulator,
 * with the real SDK client and Powertools provider): the forms it may be stored in, a
 * rotation reaching a warm reader after the cache age, errors that name the secret and
 * never quote its value, and the webhook channel signing with it end to end.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type SecretsManagerEmulator,
  startSecretsManagerEmulator,
} from '#infra/local/secrets-manager-emulator.ts';
import {
  createDefaultWebhookSecret,
  DEFAULT_WEBHOOK_SECRET_MAX_AGE_SECONDS,
  SigningSecretFormatError,
  signingSecretFrom,
} from '#shared/adapters/default-webhook-secret.ts';

let emulator: SecretsManagerEmulator;
let client: SecretsManagerClient;
let counter = 0;

beforeAll(async () => {
  emulator = await startSecretsManagerEmulator({ region: 'us-east-1' });
  client = new SecretsManagerClient({
    region: 'us-east-1',
    endpoint: emulator.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});

afterAll(async () => {
  client?.destroy();
  await emulator?.stop();
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  vi.resetModules();
});

async function storedSecret(value: { SecretString: string } | { SecretBinary: Uint8Array }): Promise<string> {
  counter += 1;
  const { ARN } = await client.send(new CreateSecretCommand({ Name: `test/webhook-${counter}`, ...value }));
  return ARN as string;
}

/** 33 bytes as 44 letters and digits: the shape the CDK stack generates. */
const generated = 'Ab3dEf6hIj9lMn2pQr5tUv8xYz1bCd4fGh7jKl0nOp3r';
const whsec = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

describe('the default webhook secret from Secrets Manager', () => {
  it.each([
    ['whsec_ and base64', whsec, whsec],
    ['bare base64, as the stack generates it', generated, `whsec_${generated}`],
    ['JSON with a whsec_ signingSecret', JSON.stringify({ signingSecret: whsec }), whsec],
    [
      'JSON with a bare signingSecret, and spaces',
      ` {"signingSecret": " ${generated} "} `,
      `whsec_${generated}`,
    ],
  ])('reads %s as a whsec_ secret', async (_form, stored, expected) => {
    const secretArn = await storedSecret({ SecretString: stored });
    expect(await createDefaultWebhookSecret({ client, secretArn })()).toBe(expected);
  });

  it('keeps a value for five minutes, then reads the rotated one', async () => {
    expect(DEFAULT_WEBHOOK_SECRET_MAX_AGE_SECONDS).toBe(300);
    const secretArn = await storedSecret({ SecretString: whsec });
    const read = createDefaultWebhookSecret({ client, secretArn });
    expect(await read()).toBe(whsec);
    await client.send(new PutSecretValueCommand({ SecretId: secretArn, SecretString: generated }));
    expect(await read()).toBe(whsec);
    const now = Date.now();
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now + 299_000);
    expect(await read()).toBe(whsec);
    clock.mockReturnValue(now + 301_000);
    expect(await read()).toBe(`whsec_${generated}`);
  });

  it.each([
    ['a password', 'hunter2-is-my-password', 'is not a signing secret'],
    ['too short a key', 'whsec_c2hvcnQ=', 'decodes to 5 bytes'],
    [
      'JSON without signingSecret',
      JSON.stringify({ password: 'hunter2-is-my-password' }),
      'is JSON without a "signingSecret" string',
    ],
    ['broken JSON', '{"signingSecret": "hunter2-is-my-password"', 'starts like JSON but is not JSON'],
  ])('refuses %s, naming the ARN and the form, never the value', async (_what, stored, problem) => {
    const secretArn = await storedSecret({ SecretString: stored });
    const error = await createDefaultWebhookSecret({ client, secretArn })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SigningSecretFormatError);
    const { message } = error as Error;
    expect(message).toContain(
      `The default webhook's signing secret ${secretArn} (WEBHOOK_SECRET_ARN) ${problem}`,
    );
    expect(message).toContain('whsec_ and the base64 of 24 to 64 random bytes');
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('c2hvcnQ');
  });

  it('refuses a binary secret', async () => {
    const secretArn = await storedSecret({ SecretBinary: Buffer.alloc(32, 1) });
    await expect(createDefaultWebhookSecret({ client, secretArn })()).rejects.toThrow(
      /holds a binary value, not text/,
    );
  });

  it('names the ARN when the secret does not exist', async () => {
    const secretArn = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:test/missing-AbCdEf';
    await expect(createDefaultWebhookSecret({ client, secretArn })()).rejects.toThrow(
      `Could not read the default webhook's signing secret ${secretArn} (WEBHOOK_SECRET_ARN): Secrets Manager can't find the specified secret.`,
    );
  });

  it('accepts 24 to 64 bytes, as Standard Webhooks asks', () => {
    const arn = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:x-AbCdEf';
    const of = (bytes: number) => `whsec_${Buffer.alloc(bytes, 1).toString('base64')}`;
    expect(signingSecretFrom(of(24), arn)).toBe(of(24));
    expect(signingSecretFrom(of(64), arn)).toBe(of(64));
    expect(() => signingSecretFrom(of(23), arn)).toThrow(/decodes to 23 bytes/);
    expect(() => signingSecretFrom(of(65), arn)).toThrow(/decodes to 65 bytes/);
  });
});

describe('the webhook channel of DELIVERY_CHANNEL=webhook with WEBHOOK_SECRET_ARN', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function receiver(): Promise<{
    url: string;
    received: { headers: IncomingHttpHeaders; body: string }[];
  }> {
    const received: { headers: IncomingHttpHeaders; body: string }[] = [];
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
  }

  async function channelFor(secretArn: string, url: string) {
    vi.stubEnv('DELIVERY_CHANNEL', 'webhook');
    vi.stubEnv('WEBHOOK_URL', url);
    vi.stubEnv('WEBHOOK_SECRET_ARN', secretArn);
    vi.stubEnv('WEBHOOK_MAX_ATTEMPTS', '1');
    vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', emulator.endpoint);
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
    vi.resetModules();
    return (await import('#shared/adapters/channel.ts')).deliveryChannel;
  }

  const batch = {
    appId: 'a',
    campaignId: 'c',
    messages: [{ userId: 'u', title: null, body: 'b', idempotencyKey: 'c:u' }],
  };

  it('signs each request with the secret read from Secrets Manager', async () => {
    const secretArn = await storedSecret({ SecretString: generated });
    const { url, received } = await receiver();
    const channel = await channelFor(secretArn, url);
    expect(await channel.deliverBatch(batch)).toEqual([{ status: 'accepted' }]);
    const [request] = received;
    expect(received).toHaveLength(1);
    // Standard Webhooks, checked by the package itself with the secret as stored.
    const headers = Object.fromEntries(
      Object.entries(request?.headers ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string'),
    );
    expect(() => new Webhook(`whsec_${generated}`).verify(request?.body ?? '', headers)).not.toThrow();
    expect(() => new Webhook(`whsec_${'A'.repeat(44)}`).verify(request?.body ?? '', headers)).toThrow();
  });

  it('sends nothing unsigned: a secret that is not one fails the batch transiently, quoting nothing of it', async () => {
    const secretArn = await storedSecret({ SecretString: 'hunter2-is-my-password' });
    const { url, received } = await receiver();
    const channel = await channelFor(secretArn, url);
    const error = await channel.deliverBatch(batch).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'TransientDeliveryError' });
    expect((error as { summary: string }).summary).toContain(secretArn);
    expect(
      JSON.stringify({ message: (error as Error).message, summary: (error as { summary: string }).summary }),
    ).not.toContain('hunter2');
    expect(received).toHaveLength(0);
  });
});
