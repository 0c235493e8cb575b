/**
 * The webhook channel's Standard Webhooks signatures, checked the way a receiver would:
 * with the `standardwebhooks` package's own `verify`, on a loopback server.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import {
  batchIdempotencyKey,
  createWebhookChannel,
  type WebhookChannelOptions,
} from '#shared/adapters/webhook-channel.ts';
import { type ChannelBatch, idempotencyKeyOf } from '#shared/domain/channel.ts';
import { newSigningSecret } from '#shared/domain/destinations.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** A receiver answering with `statuses` in order (the last repeats), recording every request. */
async function receiver(statuses: number[] = [204]) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(statuses[Math.min(received.length, statuses.length) - 1] ?? 204);
      res.end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

/** The three headers `verify` reads, as a receiver's framework would hand them over. */
function signed(request: Received | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    const value = request?.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  return headers;
}

/** What a receiver holding `secret` concludes about `request`: the payload, or the refusal. */
function verifyWith(secret: string, request: Received | undefined, body = request?.body ?? '') {
  try {
    return { ok: true as const, payload: new Webhook(secret).verify(body, signed(request)) };
  } catch (error) {
    return { ok: false as const, error: error as Error };
  }
}

const batch: ChannelBatch = {
  appId: 'app_1',
  campaignId: 'cmp_1',
  messages: ['u1', 'u2'].map((userId) => ({
    userId,
    title: null,
    body: `Hello ${userId} ✓`,
    idempotencyKey: idempotencyKeyOf('cmp_1', userId),
  })),
};

function channel(url: string, extra: Partial<WebhookChannelOptions>) {
  return createWebhookChannel({ url, maxAttempts: 3, sleep: async () => undefined, ...extra });
}

describe('webhook signatures', () => {
  it("signs every request so the package's own verify accepts it, with the batch key as webhook-id", async () => {
    const secret = newSigningSecret();
    const server = await receiver();
    const at = Date.now();
    await channel(server.url, { secrets: [secret], now: () => at }).deliverBatch(batch);

    const [request] = server.received;
    const verified = verifyWith(secret, request);
    expect(verified.ok).toBe(true);
    expect(verified.payload).toEqual(JSON.parse(request?.body ?? ''));
    expect(request?.headers['webhook-id']).toBe(batchIdempotencyKey(batch.messages));
    expect(request?.headers['idempotency-key']).toBe(request?.headers['webhook-id']);
    expect(request?.headers['webhook-timestamp']).toBe(String(Math.floor(at / 1000)));
    // The specification's definition, computed here without the package.
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const content = `${request?.headers['webhook-id']}.${request?.headers['webhook-timestamp']}.${request?.body}`;
    expect(request?.headers['webhook-signature']).toBe(
      `v1,${createHmac('sha256', key).update(content).digest('base64')}`,
    );
  });

  it('signs with every secret during a rotation: each alone verifies, an unrelated one does not', async () => {
    const [current, previous, unrelated] = [newSigningSecret(), newSigningSecret(), newSigningSecret()];
    const server = await receiver();
    await channel(server.url, { secrets: [current, previous] }).deliverBatch(batch);

    const [request] = server.received;
    const parts = String(request?.headers['webhook-signature']).split(' ');
    expect(parts).toHaveLength(2);
    expect(parts.every((part) => /^v1,[A-Za-z0-9+/]+=*$/.test(part))).toBe(true);
    expect(verifyWith(current, request).ok).toBe(true);
    expect(verifyWith(previous, request).ok).toBe(true);
    const refused = verifyWith(unrelated, request);
    expect(refused.ok).toBe(false);
    expect(refused.error).toBeInstanceOf(WebhookVerificationError);
    expect(refused.error?.message).toBe('No matching signature found');
  });

  it("fails verification when the channel's clock is older than the package's 5 minute tolerance", async () => {
    const secret = newSigningSecret();
    const server = await receiver();
    const sixMinutesAgo = Date.now() - 6 * 60_000;
    await channel(server.url, { secrets: [secret], now: () => sixMinutesAgo }).deliverBatch(batch);

    const [request] = server.received;
    expect(request?.headers['webhook-timestamp']).toBe(String(Math.floor(sixMinutesAgo / 1000)));
    const refused = verifyWith(secret, request);
    expect(refused.ok).toBe(false);
    expect(refused.error?.message).toBe('Message timestamp too old');
  });

  it('signs every retry anew: the same webhook-id, a fresh timestamp, each verifying', async () => {
    const secret = newSigningSecret();
    const server = await receiver([503, 503, 200]);
    // Three tries, a minute and a half apart: together longer than the tolerance allows one timestamp.
    // The clock moves on by the requests the receiver has seen, however often it is read.
    const start = Date.now() - 3 * 60_000;
    const now = () => start + server.received.length * 90_000;
    await channel(server.url, { secrets: [secret], now }).deliverBatch(batch);
    const times = [start, start + 90_000, start + 180_000];

    expect(server.received).toHaveLength(3);
    const ids = server.received.map((r) => r.headers['webhook-id']);
    expect(new Set(ids)).toEqual(new Set([batchIdempotencyKey(batch.messages)]));
    expect(server.received.map((r) => r.headers['webhook-timestamp'])).toEqual(
      times.map((t) => String(Math.floor(t / 1000))),
    );
    expect(new Set(server.received.map((r) => r.headers['webhook-signature'])).size).toBe(3);
    for (const request of server.received) expect(verifyWith(secret, request).ok).toBe(true);
  });

  it('fails verification of a tampered body', async () => {
    const secret = newSigningSecret();
    const server = await receiver();
    await channel(server.url, { secrets: [secret] }).deliverBatch(batch);

    const [request] = server.received;
    expect(verifyWith(secret, request).ok).toBe(true);
    const tampered = (request?.body ?? '').replace('Hello u1', 'Hello u9');
    expect(tampered).not.toBe(request?.body);
    const refused = verifyWith(secret, request, tampered);
    expect(refused.ok).toBe(false);
    expect(refused.error?.message).toBe('No matching signature found');
  });

  it('sends no signature without secrets, but still the id and the timestamp', async () => {
    const server = await receiver();
    await channel(server.url, {}).deliverBatch(batch);
    await channel(server.url, { secrets: [] }).deliverBatch(batch);
    for (const request of server.received) {
      expect(request.headers['webhook-signature']).toBeUndefined();
      expect(request.headers['webhook-id']).toBe(batchIdempotencyKey(batch.messages));
      expect(request.headers['webhook-timestamp']).toMatch(/^\d+$/);
    }
    expect(server.received).toHaveLength(2);
  });

  it('refuses a secret that is not a Standard Webhooks secret, naming its position and never its text', () => {
    const good = newSigningSecret();
    for (const [bad, why] of [
      ['s3cret-without-prefix', 'does not start with "whsec_" followed by the key'],
      ['whsec_', 'does not start with "whsec_" followed by the key'],
      ['whsec_not*base64!', 'is not valid base64 after "whsec_"'],
    ] as const) {
      const make = () => createWebhookChannel({ url: 'https://hooks.example.com/x', secrets: [good, bad] });
      expect(make).toThrow(TypeError);
      expect(make).toThrow(
        `Webhook secrets[1] ${why}: use a Standard Webhooks secret, \`whsec_\` and the base64 of its key (newSigningSecret makes one)`,
      );
    }
  });
});

describe('webhook signatures from a source of secrets', () => {
  it('asks the source on every batch, so a new secret signs the next batch', async () => {
    const [first, second] = [newSigningSecret(), newSigningSecret()];
    let current = first;
    let asked = 0;
    const server = await receiver();
    const hook = channel(server.url, {
      secrets: async () => {
        asked += 1;
        return [current];
      },
    });
    await hook.deliverBatch(batch);
    current = second;
    await hook.deliverBatch(batch);
    expect(asked).toBe(2);
    expect(server.received).toHaveLength(2);
    expect(verifyWith(first, server.received[0]).ok).toBe(true);
    expect(verifyWith(second, server.received[1]).ok).toBe(true);
    expect(verifyWith(first, server.received[1]).ok).toBe(false);
  });

  it('sends nothing when the source fails: the batch fails transiently', async () => {
    const server = await receiver();
    const hook = channel(server.url, {
      secrets: async () => {
        throw new Error('secret arn:aws:secretsmanager:…:secret:hook is not readable');
      },
    });
    await expect(hook.deliverBatch(batch)).rejects.toMatchObject({
      name: 'TransientDeliveryError',
      message: expect.stringContaining('webhook signing secret unavailable'),
    });
    expect(server.received).toHaveLength(0);
  });
});
