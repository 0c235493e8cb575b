/**
 * The delivery channel: what finally hands rendered messages to users (a push service,
 * an e-mail gateway, a webhook, a local outbox file). The consumer calls `deliverBatch`
 * with up to `maxBatchSize` messages of one campaign (or one-call send) of one app, each
 * for a recipient it has claimed (a conditional status change), so a channel is called
 * at most once per recipient unless a transient failure releases the claim;
 * `idempotencyKey` lets the far side drop the rare repeat (docs/delivery.md).
 *
 * A channel resolves with one result per message, in order: `accepted`, or `rejected`
 * with a reason for a human (the recipient is marked `failed` with it; at most
 * `MAX_REASON_LENGTH` characters, see `boundReason`). It rejects the whole call with:
 * - `TransientDeliveryError`: worth trying again later (network error, timeout, 5xx,
 *   429, 408), and nothing was accepted as far as the channel knows. The consumer leaves
 *   the batch's recipients to be retried by SQS;
 * - `PermanentDeliveryError`: the far side refused the whole batch (4xx). The consumer
 *   marks every recipient of the batch `failed` with the error's message.
 * Any other error counts as transient (see `isPermanentDeliveryFailure`).
 */
import { AppError } from '#shared/errors.ts';

/** One rendered message of a batch. */
export interface ChannelMessage {
  userId: string;
  /** null when the template has no title. */
  title: string | null;
  body: string;
  /** `campaignId:userId` (idempotencyKeyOf): the same on every try of one delivery. */
  idempotencyKey: string;
}

/** Up to `maxBatchSize` messages of one campaign (or one-call send) of one app. */
export interface ChannelBatch {
  appId: string;
  /** The campaign id, or the notification id of a one-call send. */
  campaignId: string;
  messages: readonly ChannelMessage[];
  /**
   * Told each time the far side asks to slow down (a `429`, or an answer with
   * `Retry-After`, in milliseconds): a paced destination's bucket slows down.
   */
  onThrottle?(retryAfterMs: number | undefined): void;
}

export type ChannelResult = { status: 'accepted' } | { status: 'rejected'; reason: string };

export interface DeliveryChannel {
  /** For logs and metrics: `webhook`, `outbox`, … */
  readonly name: string;
  /** Most messages one deliverBatch call takes (1-100). */
  readonly maxBatchSize: number;
  /**
   * Hands the batch over. Resolves with one result per message, in the order of `messages`.
   * Rejects with TransientDeliveryError when the whole call may work later (nothing was accepted
   * as far as we know), PermanentDeliveryError when the far side refused the whole batch.
   */
  deliverBatch(batch: ChannelBatch): Promise<ChannelResult[]>;
}

/** The most characters of a rejection reason (a result's `reason`, a permanent error's message). */
export const MAX_REASON_LENGTH = 500;

/**
 * `reason` cut to at most `MAX_REASON_LENGTH` characters (UTF-16 code units, as
 * `String.length` counts), never in the middle of a surrogate pair, ending with `…` when cut.
 */
export function boundReason(reason: string): string {
  if (reason.length <= MAX_REASON_LENGTH) return reason;
  let end = MAX_REASON_LENGTH - 1;
  const last = reason.charCodeAt(end - 1);
  // Do not keep the first half of a pair whose second half is cut off.
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${reason.slice(0, end)}…`;
}

/**
 * The idempotency key of a delivery. Campaign and notification ids never contain `:`,
 * so the first `:` separates the parts even when a user id contains one.
 */
export function idempotencyKeyOf(campaignId: string, userId: string): string {
  return `${campaignId}:${userId}`;
}

/** Base of the failures a channel reports on purpose. */
export class DeliveryError extends AppError {
  /** Tries made before giving up (1 when the channel does not retry itself). */
  readonly attempts: number;
  /**
   * The failure for logs: like the message, but without anything the far side answered
   * (an echo of the payload would put user ids and variables in the logs). The message
   * itself goes on the recipient, which only its app reads.
   */
  readonly summary: string;
  constructor(message: string, options?: { cause?: unknown; attempts?: number; summary?: string }) {
    super(message, options);
    this.attempts = options?.attempts ?? 1;
    this.summary = options?.summary ?? message;
  }
}

/** What of a channel's failure may be logged: a `DeliveryError`'s summary, else only its kind. */
export function loggableReason(error: unknown): string {
  if (error instanceof DeliveryError) return error.summary;
  return `unexpected ${error instanceof Error ? error.name : typeof error} from the channel`;
}

/** Trying again later may succeed. */
export class TransientDeliveryError extends DeliveryError {
  /** How long the far side asked us to wait (`Retry-After`), when it did. */
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    options?: { cause?: unknown; attempts?: number; retryAfterMs?: number; summary?: string },
  ) {
    super(message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** Trying again cannot succeed: the recipient is marked `failed` with this message. */
export class PermanentDeliveryError extends DeliveryError {}

/** True only for a `PermanentDeliveryError`; anything unexpected is worth a retry. */
export function isPermanentDeliveryFailure(error: unknown): boolean {
  return error instanceof PermanentDeliveryError;
}
