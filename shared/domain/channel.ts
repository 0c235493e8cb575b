/**
 * The delivery channel: what finally hands a rendered message to a user (a push
 * service, an e-mail gateway, a webhook, a local outbox file). The consumer calls
 * `deliver` once per recipient after it has claimed the recipient (a conditional
 * status change), so a channel is called at most once per recipient unless a
 * transient failure releases the claim; `idempotencyKey` lets the far side drop the
 * rare repeat (docs/delivery.md).
 *
 * A channel resolves when the message was accepted, and rejects with:
 * - `TransientDeliveryError`: worth trying again later (network error, timeout, 5xx,
 *   429, 408). The consumer leaves the recipient to be retried by SQS;
 * - `PermanentDeliveryError`: retrying cannot help (4xx, invalid recipient). The
 *   consumer marks the recipient `failed` with the error's message.
 * Any other error counts as transient (see `isPermanentDeliveryFailure`).
 */
import { AppError } from '#shared/errors.ts';

/** One rendered message for one recipient. */
export interface DeliveryMessage {
  /** The campaign, or for a one-call send the notification id. */
  campaignId: string;
  userId: string;
  /** Present exactly when the template has a title. */
  title?: string;
  body: string;
  /** `campaignId:userId` (see `idempotencyKeyOf`): the same for every try of one delivery. */
  idempotencyKey: string;
}

export interface DeliveryChannel {
  /** For logs and metrics: `webhook`, `outbox`, … */
  readonly name: string;
  /** Hands the message over; see the module comment for how it fails. */
  deliver(message: DeliveryMessage): Promise<void>;
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
