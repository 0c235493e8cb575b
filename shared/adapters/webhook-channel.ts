/**
 * The webhook delivery channel: POSTs each rendered message as JSON to one URL.
 *
 * Request: `POST <url>` with `Content-Type: application/json`, `Idempotency-Key:
 * <campaignId>:<userId>`, `User-Agent: csv-campaigns-webhook/1`, and when a secret is
 * set `Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. Body:
 * `{ "campaignId", "userId", "title" (null when the template has none), "body",
 * "idempotencyKey" }`.
 *
 * Answers: any 2xx is delivered. 408, 429 and 5xx, a network error or no answer
 * within the per-attempt timeout are transient: tried again after an exponential
 * backoff with full jitter, or after `Retry-After` (seconds or an HTTP date) when the
 * answer has one, up to `maxAttempts` tries. A `Retry-After` longer than
 * `maxRetryAfterMs` stops the tries at once (the consumer's time is limited); the
 * `TransientDeliveryError` carries it so the message can come back later. Any other
 * answer (3xx, 4xx) is a `PermanentDeliveryError`. Redirects are not followed: point
 * the channel at the final URL.
 */
import { createHmac } from 'node:crypto';
import { setTimeout as sleepFor } from 'node:timers/promises';
import {
  type DeliveryChannel,
  type DeliveryMessage,
  PermanentDeliveryError,
  TransientDeliveryError,
} from '#shared/domain/channel.ts';

export interface WebhookChannelOptions {
  url: string;
  /** Per-attempt limit on the whole exchange, response body included (default 5,000 ms). */
  timeoutMs?: number;
  /** Tries per message, the first included (default 3). */
  maxAttempts?: number;
  /** Backoff before try n+1 is random in [0, min(maxDelayMs, baseDelayMs * 2^(n-1))) (default 200 ms). */
  baseDelayMs?: number;
  /** Cap of the backoff (default 2,000 ms). */
  maxDelayMs?: number;
  /** Longest `Retry-After` waited for in process (default 5,000 ms). */
  maxRetryAfterMs?: number;
  /** HMAC-SHA256 key of the `Webhook-Signature` header; no header without it. */
  secret?: string;
  /** Sources of time and chance, replaceable in tests. */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export const WEBHOOK_DEFAULTS = {
  timeoutMs: 5_000,
  maxAttempts: 3,
  baseDelayMs: 200,
  maxDelayMs: 2_000,
  maxRetryAfterMs: 5_000,
} as const;

/** What the receiver gets, as JSON. */
export interface WebhookPayload {
  campaignId: string;
  userId: string;
  title: string | null;
  body: string;
  idempotencyKey: string;
}

/**
 * Milliseconds to wait according to a `Retry-After` value: delta-seconds (`120`) or an
 * HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`, in the past meaning 0). Undefined when
 * absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Only something shaped like an HTTP date: Date.parse alone takes "1.5" for a date.
  if (!/^[A-Za-z]{3,9},? /.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Full-jitter exponential backoff before try `attempt + 1`. */
export function backoffDelay(
  attempt: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: number,
): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random * ceiling);
}

type Outcome =
  | { kind: 'delivered' }
  | { kind: 'permanent'; reason: string; summary: string }
  | { kind: 'transient'; reason: string; summary: string; retryAfterMs?: number; cause?: unknown };

const SNIPPET_CHARS = 200;

function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `no answer within ${timeoutMs} ms`;
  }
  const cause =
    error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const detail = code ?? (typeof cause?.message === 'string' ? cause.message : String(error));
  return `request failed (${detail})`;
}

/** Creates a webhook channel; throws at once on a URL that is not http(s). */
export function createWebhookChannel(options: WebhookChannelOptions): DeliveryChannel {
  const url = new URL(options.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`Webhook URL must be http or https, got ${url.protocol}`);
  }
  const timeoutMs = options.timeoutMs ?? WEBHOOK_DEFAULTS.timeoutMs;
  const maxAttempts = Math.max(1, options.maxAttempts ?? WEBHOOK_DEFAULTS.maxAttempts);
  const baseDelayMs = options.baseDelayMs ?? WEBHOOK_DEFAULTS.baseDelayMs;
  const maxDelayMs = options.maxDelayMs ?? WEBHOOK_DEFAULTS.maxDelayMs;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? WEBHOOK_DEFAULTS.maxRetryAfterMs;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? ((ms: number) => sleepFor(ms));
  const now = options.now ?? Date.now;

  async function attempt(body: string, headers: Record<string, string>): Promise<Outcome> {
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      // Read the answer under the same timeout, which also frees the connection for reuse.
      text = await response.text();
    } catch (error) {
      const reason = describeFailure(error, timeoutMs);
      return { kind: 'transient', reason, summary: reason, cause: error };
    }
    if (response.status >= 200 && response.status < 300) return { kind: 'delivered' };
    const snippet = text.trim().slice(0, SNIPPET_CHARS);
    // The answer's text may echo the payload: it goes in the message, never in the summary.
    const summary = `webhook answered ${response.status}`;
    const reason = `${summary}${snippet ? `: ${snippet}` : ''}`;
    const { status } = response;
    if (status === 408 || status === 429 || status >= 500) {
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), now());
      return retryAfterMs === undefined
        ? { kind: 'transient', reason, summary }
        : { kind: 'transient', reason, summary, retryAfterMs };
    }
    return { kind: 'permanent', reason, summary };
  }

  return {
    name: 'webhook',
    async deliver(message: DeliveryMessage): Promise<void> {
      const payload: WebhookPayload = {
        campaignId: message.campaignId,
        userId: message.userId,
        title: message.title ?? null,
        body: message.body,
        idempotencyKey: message.idempotencyKey,
      };
      const body = JSON.stringify(payload);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'idempotency-key': message.idempotencyKey,
        'user-agent': 'csv-campaigns-webhook/1',
      };
      if (options.secret) {
        headers['webhook-signature'] =
          `sha256=${createHmac('sha256', options.secret).update(body).digest('hex')}`;
      }

      for (let tries = 1; ; tries += 1) {
        const outcome = await attempt(body, headers);
        if (outcome.kind === 'delivered') return;
        if (outcome.kind === 'permanent') {
          throw new PermanentDeliveryError(outcome.reason, { attempts: tries, summary: outcome.summary });
        }
        const { retryAfterMs } = outcome;
        const tooLong = retryAfterMs !== undefined && retryAfterMs > maxRetryAfterMs;
        if (tries >= maxAttempts || tooLong) {
          const why = tooLong ? `; it asked to retry after ${retryAfterMs} ms` : '';
          const after = ` (after ${tries} ${tries === 1 ? 'try' : 'tries'}${why})`;
          throw new TransientDeliveryError(`${outcome.reason}${after}`, {
            attempts: tries,
            summary: `${outcome.summary}${after}`,
            cause: outcome.cause,
            ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
          });
        }
        await sleep(retryAfterMs ?? backoffDelay(tries, baseDelayMs, maxDelayMs, random()));
      }
    },
  };
}
