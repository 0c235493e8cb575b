/**
 * Destinations: where an app's messages go (docs/delivery.md, "Destinations"). Every app
 * has one. An app that never set one, or set `{ kind: "default" }`, uses the deployment's
 * default channel (the outbox locally; an SNS topic or a webhook on AWS). A `webhook`
 * destination is the app's own URL, signed to the Standard Webhooks specification with
 * the app's own secret, in batches of up to its `batchSize`.
 */
import { randomBytes } from 'node:crypto';

/** Most recipients per webhook request, and the default. */
export const MAX_DESTINATION_BATCH_SIZE = 100;
/** Bounds of a destination's `ratePerSecond` (null: no limit of its own). */
export const MIN_RATE_PER_SECOND = 1;
export const MAX_RATE_PER_SECOND = 10_000;
/** Longest destination URL accepted. */
export const MAX_DESTINATION_URL_LENGTH = 2_048;
/** After a rotation, deliveries carry the old secret's signature too for this long. */
export const ROTATION_OVERLAP_MS = 24 * 60 * 60 * 1000;
/** Random bytes of a new signing secret (the specification asks for 24 to 64). */
export const SIGNING_SECRET_BYTES = 32;
/** Characters of a secret shown after creation, as `secretHint`. */
export const SECRET_HINT_LENGTH = 4;
/** What starts every Standard Webhooks signing secret, before the base64 of its key. */
export const SIGNING_SECRET_PREFIX = 'whsec_';

/**
 * Encrypts and decrypts apps' signing secrets. Each ciphertext is bound to its app (on
 * AWS, a KMS encryption context `{ appId }`), so one app's ciphertext never decrypts
 * as another's.
 */
export interface SecretCipher {
  encrypt(plaintext: string, appId: string): Promise<string>;
  decrypt(ciphertext: string, appId: string): Promise<string>;
}

/** A new signing secret: `whsec_` and the base64 of 32 random bytes. */
export function newSigningSecret(): string {
  return `${SIGNING_SECRET_PREFIX}${randomBytes(SIGNING_SECRET_BYTES).toString('base64')}`;
}

/** What is shown of a secret after it was answered once: its last 4 characters. */
export const secretHintOf = (secret: string) => secret.slice(-SECRET_HINT_LENGTH);

/** The stored item, secrets encrypted. */
export interface DestinationItem {
  appId: string;
  kind: 'default' | 'webhook';
  url?: string;
  batchSize: number;
  ratePerSecond: number | null;
  /** The current signing secret, encrypted; kept while the app is on `default`, for a later webhook. */
  secretCiphertext?: string;
  secretHint?: string;
  /** The secret before the last rotation, encrypted, and until when it still signs (epoch ms). */
  previousSecretCiphertext?: string;
  previousSecretUntil?: number;
  version: string;
  updatedAt: string;
}

/** The item when it is a webhook the app can be delivered to (else the deployment's default serves it). */
export function webhookOf(
  item: DestinationItem | undefined,
): (DestinationItem & { kind: 'webhook'; url: string }) | undefined {
  return item?.kind === 'webhook' && item.url !== undefined
    ? (item as DestinationItem & { kind: 'webhook'; url: string })
    : undefined;
}

/** True while the secret before the last rotation still signs (its overlap has not ended at `now`). */
export function previousSecretSigns(item: DestinationItem, now: number): boolean {
  return item.previousSecretCiphertext !== undefined && (item.previousSecretUntil ?? 0) > now;
}

/** The secrets a delivery is signed with now: the current one, then the previous one in its overlap. */
export async function signingSecretsOf(
  item: DestinationItem,
  cipher: SecretCipher,
  now = Date.now(),
): Promise<string[]> {
  const secrets: string[] = [];
  if (item.secretCiphertext !== undefined)
    secrets.push(await cipher.decrypt(item.secretCiphertext, item.appId));
  if (previousSecretSigns(item, now)) {
    secrets.push(await cipher.decrypt(item.previousSecretCiphertext as string, item.appId));
  }
  return secrets;
}

/**
 * The pace of one destination: its token bucket's key, the configured rate and the
 * bucket's capacity (docs/delivery.md, "Pacing").
 */
export interface PaceLimit {
  /** `app:<appId>` for an app's own webhook; `default` for the deployment's default channel. */
  bucket: string;
  /** Messages per second, as configured (the effective rate may be lower after a 429). */
  ratePerSecond: number;
  /**
   * One second of the rate (`floor(ratePerSecond)`, at least 1): over any window of t
   * seconds the far side receives at most `burst + ratePerSecond × t` messages. A paced
   * campaign's chunks hold at most `min(batchSize, burst)`, one take and one request each.
   *
   * The consumers send tighter than that: one chunk every `chunk / ratePerSecond` seconds,
   * evenly (a bucket one chunk deep), so any second carries at most the rate plus one
   * chunk as sent. The burst is the slack for the way there: the far side sees more than
   * the bound only if one request is held up by over a second relative to another.
   */
  burst: number;
}

/** The stored state of one pace bucket (shared/delivery/pacing.ts keeps it). */
export interface BucketState {
  /** Theoretical arrival time (epoch ms): the bucket is full from then on. */
  tat: number;
  /** Effective rate, messages per second: the configured one, or lower after a 429. */
  rate: number;
  /** The configured rate the effective one derives from (`PaceLimit.ratePerSecond`). */
  configured: number;
  /**
   * When the far side last answered 429, or when the Retry-After it sent ends, whichever
   * is later (epoch ms): the rate climbs back only a step after it.
   */
  throttledAt?: number;
  /** When a 429 last halved the rate (epoch ms): the next halving waits `THROTTLE_COOLDOWN_MS` from it. */
  halvedAt?: number;
  /** When the rate last climbed back, counted in whole steps (epoch ms). */
  raisedAt?: number;
  /** Raised by every write; a write on a version that changed loses. */
  version: number;
}

/** The token bucket's capacity for `ratePerSecond`: one second of it, at least one message. */
export const burstOf = (ratePerSecond: number) => Math.max(1, Math.floor(ratePerSecond));

/**
 * The pace of an app's deliveries: its own webhook's `ratePerSecond`, or, on the
 * deployment's default channel, the deployment's rate (`DELIVERY_RATE_PER_SECOND`,
 * shared by every app on that channel); undefined when nothing limits it.
 */
export function paceOf(
  appId: string,
  item: DestinationItem | undefined,
  deployment: { ratePerSecond: number | undefined },
): PaceLimit | undefined {
  const own = webhookOf(item);
  if (own) {
    if (own.ratePerSecond === null) return undefined;
    return {
      bucket: `app:${appId}`,
      ratePerSecond: own.ratePerSecond,
      burst: burstOf(own.ratePerSecond),
    };
  }
  if (deployment.ratePerSecond === undefined) return undefined;
  return {
    bucket: 'default',
    ratePerSecond: deployment.ratePerSecond,
    burst: burstOf(deployment.ratePerSecond),
  };
}

/** What `GET /api/destination` answers (never a secret). */
export interface DestinationView {
  kind: 'default' | 'webhook';
  url?: string;
  batchSize: number;
  ratePerSecond: number | null;
  secretHint?: string;
  /** null for an app that never set a destination. */
  updatedAt: string | null;
}

/**
 * The view of an app's destination; on the default, `ratePerSecond` is the deployment's
 * pace of the default channel (`DELIVERY_RATE_PER_SECOND`), null when it has none.
 */
export function destinationView(
  item: DestinationItem | undefined,
  defaultRatePerSecond: number | undefined = undefined,
): DestinationView {
  const ratePerSecond = defaultRatePerSecond ?? null;
  if (!item)
    return { kind: 'default', batchSize: MAX_DESTINATION_BATCH_SIZE, ratePerSecond, updatedAt: null };
  if (item.kind === 'default') {
    return { kind: 'default', batchSize: item.batchSize, ratePerSecond, updatedAt: item.updatedAt };
  }
  return {
    kind: 'webhook',
    ...(item.url === undefined ? {} : { url: item.url }),
    batchSize: item.batchSize,
    ratePerSecond: item.ratePerSecond,
    ...(item.secretHint === undefined ? {} : { secretHint: item.secretHint }),
    updatedAt: item.updatedAt,
  };
}

/** What `POST /api/destination/test` answers: the far side's answer to one signed `test` event. */
export interface DestinationTestResult {
  /** The far side's status code; null when it never answered. */
  status: number | null;
  /** From sending the request to the end of the answer read (a monotonic clock). */
  latencyMs: number;
  /** A 2xx answer. */
  ok: boolean;
  /** What went wrong, in plain words; absent on a 2xx. */
  error?: string;
}
