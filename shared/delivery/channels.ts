/**
 * The channel of each app, as the deliver consumer uses it: the app's own webhook
 * (signed with its own secrets, in batches of its own size) when it set one, else the
 * deployment's default channel. An app's destination is read at most once per
 * `cacheMs` per process, and a webhook channel is built once per version of the
 * destination, so a change (a new URL, a rotation) takes effect within `cacheMs`;
 * its secrets are decrypted once per version. The same read gives the app's pace
 * (`paceOf`): its webhook's `ratePerSecond`, or the deployment's rate on the default channel.
 */

import { createWebhookChannel, type WebhookChannelOptions } from '#shared/adapters/webhook-channel.ts';
import type { DeliveryChannel } from '#shared/domain/channel.ts';
import {
  type DestinationItem,
  type PaceLimit,
  paceOf,
  previousSecretSigns,
  type SecretCipher,
  signingSecretsOf,
  webhookOf,
} from '#shared/domain/destinations.ts';
import type { Channels } from './ports.ts';

/** Gives the channel an app's deliveries go through. */
export type ChannelResolver = Channels;

/** The same channel for every app (tests, and the send function, which delivers nothing). */
export const oneChannel = (channel: DeliveryChannel): ChannelResolver => ({
  channelFor: async () => channel,
});

export interface ChannelResolverOptions {
  /** The deployment's default: apps without a destination of their own. */
  defaultChannel: DeliveryChannel;
  /** The app's destination item as stored, or undefined. */
  read(appId: string): Promise<DestinationItem | undefined>;
  cipher: SecretCipher;
  /** Timeouts, retries and the address policy of every app's webhook channel. */
  webhook: Omit<WebhookChannelOptions, 'url' | 'maxBatchSize' | 'secrets'>;
  /** How long a read of a destination is reused. */
  cacheMs: number;
  /** Messages per second through the default channel, all apps on it together; undefined: no limit. */
  defaultRatePerSecond?: number | undefined;
  now?: () => number;
  /** Most apps kept in the cache (the oldest read is dropped beyond it). */
  maxApps?: number;
}

interface Cached {
  readAt: number;
  /** The item's version and whether the previous secret still signs: what the channel was built for. */
  key: string;
  /** The end of the previous secret's overlap: past it, the channel is built again without it. */
  validUntil: number;
  channel: DeliveryChannel;
  pace: PaceLimit | undefined;
}

export function createChannelResolver(options: ChannelResolverOptions): ChannelResolver {
  const now = options.now ?? Date.now;
  const maxApps = options.maxApps ?? 1_000;
  const cache = new Map<string, Cached>();
  const reading = new Map<string, Promise<Cached>>();
  const deployment = { ratePerSecond: options.defaultRatePerSecond };

  async function load(appId: string, cached: Cached | undefined): Promise<Cached> {
    const stored = await options.read(appId);
    const item = webhookOf(stored);
    const pace = paceOf(appId, stored, deployment);
    const at = now();
    let entry: Cached;
    if (!item) {
      entry = {
        readAt: at,
        key: 'default',
        validUntil: Number.POSITIVE_INFINITY,
        channel: options.defaultChannel,
        pace,
      };
    } else {
      const overlapping = previousSecretSigns(item, at);
      const key = `${item.version}:${overlapping}`;
      if (cached?.key === key && at < cached.validUntil) {
        entry = { ...cached, readAt: at, pace };
      } else {
        const secrets = await signingSecretsOf(item, options.cipher, at);
        entry = {
          readAt: at,
          key,
          validUntil: overlapping ? (item.previousSecretUntil as number) : Number.POSITIVE_INFINITY,
          channel: createWebhookChannel({
            ...options.webhook,
            url: item.url,
            maxBatchSize: item.batchSize,
            secrets,
          }),
          pace,
        };
      }
    }
    cache.delete(appId);
    if (cache.size >= maxApps) cache.delete(cache.keys().next().value as string);
    cache.set(appId, entry);
    return entry;
  }

  async function entryOf(appId: string): Promise<Cached> {
    const cached = cache.get(appId);
    const at = now();
    if (cached && at - cached.readAt < options.cacheMs && at < cached.validUntil) return cached;
    let pending = reading.get(appId);
    if (!pending) {
      pending = load(appId, cached).finally(() => reading.delete(appId));
      reading.set(appId, pending);
    }
    return pending;
  }

  return {
    channelFor: async (appId) => (await entryOf(appId)).channel,
    paceFor: async (appId) => (await entryOf(appId)).pace,
  };
}
