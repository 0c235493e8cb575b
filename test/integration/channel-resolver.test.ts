/**
 * The channel of each app (`shared/delivery/channels.ts`): the default for an app
 * without a webhook, the app's own webhook otherwise, re-read after the cache time,
 * rebuilt (and its secrets decrypted) once per destination version, and without the
 * previous secret once its overlap has ended. Real webhook channels against a loopback
 * receiver; an in-memory store and a reversible cipher.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChannelResolver } from '#shared/delivery/channels.ts';
import type { DeliveryChannel } from '#shared/domain/channel.ts';
import type { DestinationItem, SecretCipher } from '#shared/domain/destinations.ts';
import { startWebhookReceiver, verifies, type WebhookReceiver } from '#test/support/webhook-receiver.ts';

const OLD = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const NEW = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;

const defaultChannel: DeliveryChannel = {
  name: 'default',
  maxBatchSize: 100,
  deliverBatch: async (batch) => batch.messages.map(() => ({ status: 'accepted' })),
};

let receiver: WebhookReceiver;
beforeAll(async () => {
  receiver = await startWebhookReceiver();
});
afterAll(() => receiver.close());

function world() {
  const items = new Map<string, DestinationItem>();
  let reads = 0;
  let decrypts = 0;
  let clock = 1_000_000;
  const cipher: SecretCipher = {
    encrypt: async (plaintext, appId) => `${appId}|${plaintext}`,
    decrypt: async (ciphertext, appId) => {
      decrypts += 1;
      const [owner, plaintext] = ciphertext.split('|') as [string, string];
      if (owner !== appId) throw new Error('wrong app');
      return plaintext;
    },
  };
  const resolver = createChannelResolver({
    defaultChannel,
    defaultRatePerSecond: 40,
    read: async (appId) => {
      reads += 1;
      return items.get(appId);
    },
    cipher,
    webhook: { maxAttempts: 1, policy: { allowLoopback: true } },
    cacheMs: 5_000,
    now: () => clock,
  });
  const webhook = (appId: string, patch: Partial<DestinationItem> = {}): DestinationItem => ({
    appId,
    kind: 'webhook',
    url: receiver.url,
    batchSize: 10,
    ratePerSecond: null,
    secretCiphertext: `${appId}|${OLD}`,
    secretHint: OLD.slice(-4),
    version: 'v1',
    updatedAt: new Date(clock).toISOString(),
    ...patch,
  });
  return {
    items,
    resolver,
    webhook,
    reads: () => reads,
    decrypts: () => decrypts,
    advance: (ms: number) => {
      clock += ms;
    },
    now: () => clock,
  };
}

const send = async (channel: DeliveryChannel, appId: string) => {
  const before = receiver.requests.length;
  await channel.deliverBatch({
    appId,
    campaignId: 'cmp_1',
    messages: [{ userId: 'u1', title: null, body: 'hi', idempotencyKey: 'cmp_1:u1' }],
  });
  expect(receiver.requests.length).toBe(before + 1);
  return receiver.requests.at(-1) as (typeof receiver.requests)[number];
};

describe('the pace of an app', () => {
  it("is its webhook's rate in a bucket of its own, none without one, and the deployment's shared bucket on the default", async () => {
    const w = world();
    w.items.set('a', w.webhook('a', { ratePerSecond: 50, batchSize: 100 }));
    w.items.set('b', w.webhook('b', { ratePerSecond: 500, batchSize: 20 }));
    w.items.set('c', w.webhook('c'));
    expect(await w.resolver.paceFor?.('a')).toEqual({ bucket: 'app:a', ratePerSecond: 50, burst: 50 });
    // The burst is one second of the rate, whatever the batch size.
    expect(await w.resolver.paceFor?.('b')).toEqual({ bucket: 'app:b', ratePerSecond: 500, burst: 500 });
    expect(await w.resolver.paceFor?.('c')).toBeUndefined();
    expect(await w.resolver.paceFor?.('d')).toEqual({ bucket: 'default', ratePerSecond: 40, burst: 40 });
  });

  it('follows a change of the destination within the cache time, with one read for channel and pace', async () => {
    const w = world();
    w.items.set('a', w.webhook('a', { ratePerSecond: 50 }));
    await w.resolver.channelFor('a');
    expect(await w.resolver.paceFor?.('a')).toMatchObject({ ratePerSecond: 50 });
    expect(w.reads()).toBe(1);
    w.items.set('a', w.webhook('a', { ratePerSecond: 5, version: 'v2' }));
    w.advance(5_000);
    expect(await w.resolver.paceFor?.('a')).toEqual({ bucket: 'app:a', ratePerSecond: 5, burst: 5 });
    expect(w.reads()).toBe(2);
  });
});

describe('the channel of an app', () => {
  it('is the default channel for an app without a destination or on default', async () => {
    const w = world();
    expect(await w.resolver.channelFor('a')).toBe(defaultChannel);
    w.items.set('b', { ...w.webhook('b'), kind: 'default' });
    expect(await w.resolver.channelFor('b')).toBe(defaultChannel);
  });

  it("is the app's webhook, with its batch size, signed with its secret", async () => {
    const w = world();
    w.items.set('a', w.webhook('a', { batchSize: 7 }));
    const channel = await w.resolver.channelFor('a');
    expect(channel.name).toBe('webhook');
    expect(channel.maxBatchSize).toBe(7);
    expect(verifies(await send(channel, 'a'), OLD)).toBe(true);
  });

  it('reads the destination at most once per cache time, and decrypts once per version', async () => {
    const w = world();
    w.items.set('a', w.webhook('a'));
    const first = await w.resolver.channelFor('a');
    await Promise.all([w.resolver.channelFor('a'), w.resolver.channelFor('a')]);
    expect(w.reads()).toBe(1);
    w.advance(5_001);
    expect(await w.resolver.channelFor('a')).toBe(first);
    expect(w.reads()).toBe(2);
    expect(w.decrypts()).toBe(1);

    // A rotation: a new version, signed by both secrets until the overlap ends.
    w.items.set(
      'a',
      w.webhook('a', {
        version: 'v2',
        secretCiphertext: `a|${NEW}`,
        previousSecretCiphertext: `a|${OLD}`,
        // The overlap ends 2 s after the next read: within the cache time.
        previousSecretUntil: w.now() + 5_001 + 2_000,
      }),
    );
    expect(await w.resolver.channelFor('a')).toBe(first);
    w.advance(5_001);
    const rotated = await w.resolver.channelFor('a');
    expect(rotated).not.toBe(first);
    const during = await send(rotated, 'a');
    expect(verifies(during, OLD)).toBe(true);
    expect(verifies(during, NEW)).toBe(true);

    // Past the overlap the old secret no longer signs, even within the cache time.
    w.advance(2_001);
    const after = await send(await w.resolver.channelFor('a'), 'a');
    expect(verifies(after, NEW)).toBe(true);
    expect(verifies(after, OLD)).toBe(false);
  });

  it("never decrypts one app's secret for another", async () => {
    const w = world();
    w.items.set('a', w.webhook('a', { secretCiphertext: `b|${OLD}` }));
    await expect(w.resolver.channelFor('a')).rejects.toThrow('wrong app');
  });
});
