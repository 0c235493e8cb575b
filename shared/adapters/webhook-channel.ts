/**
 * The webhook delivery channel: POSTs each batch of rendered messages as JSON to one URL.
 *
 * Request: `POST <url>` with `Content-Type: application/json`, `Idempotency-Key:
 * batch_<hex SHA-256 of the batch's sorted message keys>` (`batchIdempotencyKey`, the
 * same on every try), `User-Agent: csv-campaigns-webhook/1`, and when a secret is set
 * `Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. Body (`WebhookPayload`):
 * `{ "type": "campaign.messages", "appId", "campaignId", "messages": [ { "idempotencyKey",
 * "userId", "title" (null when the template has none), "body" } ] }`.
 *
 * Answers:
 * - 2xx: every message accepted, unless the body is JSON with a `results` list of
 *   `{ idempotencyKey, status: "accepted" | "rejected", reason? }`: a listed `rejected`
 *   message is rejected with its reason (bounded to `MAX_REASON_LENGTH`; a default naming
 *   the status when it has none), an unlisted one is accepted, an unknown key is ignored.
 *   A `results` that is not such a list is a protocol error (transient).
 * - 408, 429 and 5xx, a network error or no answer within the per-attempt timeout are
 *   transient: tried again after an exponential backoff with full jitter, or after
 *   `Retry-After` (seconds or an HTTP date) when the answer has one, up to `maxAttempts`
 *   tries. A `Retry-After` longer than `maxRetryAfterMs` stops the tries at once (the
 *   consumer's time is limited); the `TransientDeliveryError` carries it so the batch can
 *   come back later.
 * - 3xx: a `PermanentDeliveryError`; redirects are not followed (point the channel at the
 *   final URL). Any other answer (4xx): a `PermanentDeliveryError` naming the status.
 * - An answer body over `WEBHOOK_MAX_ANSWER_BYTES` is not read further: a protocol error
 *   (transient).
 *
 * An error's `summary` (what the logs get) holds the status and our own words only, never
 * the far side's text, which may echo user ids and variables; its message, which goes on
 * the recipients, may quote the first 200 characters of an error answer.
 */
import { createHash, createHmac } from 'node:crypto';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { z } from 'zod';
import {
  boundReason,
  type ChannelBatch,
  type ChannelMessage,
  type ChannelResult,
  type DeliveryChannel,
  PermanentDeliveryError,
  TransientDeliveryError,
} from '#shared/domain/channel.ts';

export interface WebhookChannelOptions {
  url: string;
  /** Most messages per request, 1-100 (default 100). */
  maxBatchSize?: number;
  /** Per-attempt limit on the whole exchange, response body included (default 5,000 ms). */
  timeoutMs?: number;
  /** Tries per batch, the first included (default 3). */
  maxAttempts?: number;
  /** Backoff before try n+1 is random in [0, min(maxDelayMs, baseDelayMs * 2^(n-1))) (default 200 ms). */
  baseDelayMs?: number;
  /** Cap of the backoff (default 2,000 ms). */
  maxDelayMs?: number;
  /** Longest `Retry-After` waited for in process (default 5,000 ms). */
  maxRetryAfterMs?: number;
  /**
   * HMAC-SHA256 key of the `Webhook-Signature` header; no header without it. A function
   * is asked for the key on every batch (the default webhook's secret, read from Secrets
   * Manager with a cache, so a rotation reaches a warm channel); when it fails, the batch
   * fails transiently and nothing is sent unsigned.
   */
  secret?: string | (() => Promise<string>);
  /** Sources of time and chance, replaceable in tests. */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export const WEBHOOK_DEFAULTS = {
  maxBatchSize: 100,
  timeoutMs: 5_000,
  maxAttempts: 3,
  baseDelayMs: 200,
  maxDelayMs: 2_000,
  maxRetryAfterMs: 5_000,
} as const;

/** Most bytes of an answer's body read; a longer body is a protocol error. */
export const WEBHOOK_MAX_ANSWER_BYTES = 1024 * 1024;

/** One message of the request body. */
export interface WebhookMessage {
  idempotencyKey: string;
  userId: string;
  title: string | null;
  body: string;
}

/** What the receiver gets, as JSON. */
export interface WebhookPayload {
  type: 'campaign.messages';
  appId: string;
  campaignId: string;
  messages: WebhookMessage[];
}

/**
 * The `Idempotency-Key` of a batch: `batch_` and the hex SHA-256 of the JSON array of its
 * messages' idempotency keys, sorted; the same on every try of the same messages.
 */
export function batchIdempotencyKey(messages: readonly Pick<ChannelMessage, 'idempotencyKey'>[]): string {
  const keys = messages.map((m) => m.idempotencyKey).sort();
  return `batch_${createHash('sha256').update(JSON.stringify(keys)).digest('hex')}`;
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
  | { kind: 'answered'; results: ChannelResult[] }
  | { kind: 'permanent'; reason: string; summary: string }
  | { kind: 'transient'; reason: string; summary: string; retryAfterMs?: number; cause?: unknown };

const SNIPPET_CHARS = 200;

/** A failed exchange: the message may name the cause's text, the summary only its code or kind. */
function describeFailure(error: unknown, timeoutMs: number): { reason: string; summary: string } {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    const reason = `no answer within ${timeoutMs} ms`;
    return { reason, summary: reason };
  }
  const cause =
    error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  if (code !== undefined) {
    const reason = `request failed (${code})`;
    return { reason, summary: reason };
  }
  const detail = typeof cause?.message === 'string' ? cause.message : String(error);
  const kind = error instanceof Error ? error.name : typeof error;
  return { reason: `request failed (${detail})`, summary: `request failed (${kind})` };
}

/**
 * The body of `response`, or undefined when it is longer than `limit` bytes: then no more
 * than about `limit` bytes are read and the rest is cancelled.
 */
async function readBounded(response: Response, limit: number): Promise<Buffer | undefined> {
  const declared = Number(response.headers.get('content-length') ?? '');
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const cancel = () => reader.cancel().catch(() => undefined);
  if (Number.isFinite(declared) && declared > limit) {
    await cancel();
    return undefined;
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

const resultsSchema = z.array(
  z.object({
    idempotencyKey: z.string(),
    status: z.enum(['accepted', 'rejected']),
    reason: z.unknown().optional(),
  }),
);

/**
 * The per-message results of a 2xx answer, or undefined when it has a `results` that is
 * not a list of results.
 */
function resultsOf(
  text: string,
  status: number,
  messages: readonly ChannelMessage[],
): ChannelResult[] | undefined {
  const results: ChannelResult[] = messages.map(() => ({ status: 'accepted' }));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON (an empty body, `OK`): no results, everything accepted.
    return results;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return results;
  const listed = (json as { results?: unknown }).results;
  if (listed === undefined || listed === null) return results;
  const parsed = resultsSchema.safeParse(listed);
  if (!parsed.success) return undefined;
  const indexOf = new Map(messages.map((m, i) => [m.idempotencyKey, i]));
  for (const entry of parsed.data) {
    const index = indexOf.get(entry.idempotencyKey);
    // A key of no message of this batch is ignored; a key listed twice is rejected if either says so.
    if (index === undefined || entry.status !== 'rejected') continue;
    const given = typeof entry.reason === 'string' ? entry.reason.trim() : '';
    results[index] = {
      status: 'rejected',
      reason: boundReason(
        given === ''
          ? `webhook answered ${status} and rejected the message without a reason`
          : `webhook rejected the message: ${given}`,
      ),
    };
  }
  return results;
}

/** Creates a webhook channel; throws at once on a URL that is not http(s) or a batch size out of 1-100. */
export function createWebhookChannel(options: WebhookChannelOptions): DeliveryChannel {
  const url = new URL(options.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`Webhook URL must be http or https, got ${url.protocol}`);
  }
  const maxBatchSize = options.maxBatchSize ?? WEBHOOK_DEFAULTS.maxBatchSize;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1 || maxBatchSize > 100) {
    throw new RangeError(`Webhook batch size must be an integer from 1 to 100, got ${maxBatchSize}`);
  }
  const timeoutMs = options.timeoutMs ?? WEBHOOK_DEFAULTS.timeoutMs;
  const maxAttempts = Math.max(1, options.maxAttempts ?? WEBHOOK_DEFAULTS.maxAttempts);
  const baseDelayMs = options.baseDelayMs ?? WEBHOOK_DEFAULTS.baseDelayMs;
  const maxDelayMs = options.maxDelayMs ?? WEBHOOK_DEFAULTS.maxDelayMs;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? WEBHOOK_DEFAULTS.maxRetryAfterMs;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? ((ms: number) => sleepFor(ms));
  const now = options.now ?? Date.now;

  async function attempt(
    body: string,
    headers: Record<string, string>,
    messages: readonly ChannelMessage[],
  ): Promise<Outcome> {
    let response: Response;
    let bytes: Buffer | undefined;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      // Read the answer under the same timeout, which also frees the connection for reuse.
      bytes = await readBounded(response, WEBHOOK_MAX_ANSWER_BYTES);
    } catch (error) {
      return { kind: 'transient', ...describeFailure(error, timeoutMs), cause: error };
    }
    const { status } = response;
    if (bytes === undefined) {
      const reason = `webhook answered ${status} with a body over ${WEBHOOK_MAX_ANSWER_BYTES} bytes, not read further`;
      return { kind: 'transient', reason, summary: reason };
    }
    const text = new TextDecoder().decode(bytes);
    if (status >= 200 && status < 300) {
      const results = resultsOf(text, status, messages);
      if (results) return { kind: 'answered', results };
      const reason = `webhook answered ${status} with a "results" that is not a list of message results`;
      return { kind: 'transient', reason, summary: reason };
    }
    if (status >= 300 && status < 400) {
      const reason = `webhook answered ${status}: redirects are not followed, set the webhook URL to the final one`;
      return { kind: 'permanent', reason, summary: reason };
    }
    const snippet = text.trim().slice(0, SNIPPET_CHARS);
    // The answer's text may echo the payload: it goes in the message, never in the summary.
    const summary = `webhook answered ${status}`;
    const reason = `${summary}${snippet ? `: ${snippet}` : ''}`;
    if (status === 408 || status === 429 || status >= 500) {
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), now());
      return retryAfterMs === undefined
        ? { kind: 'transient', reason, summary }
        : { kind: 'transient', reason, summary, retryAfterMs };
    }
    return { kind: 'permanent', reason, summary };
  }

  /** The key to sign with, if any; a failure to get it is transient (the batch comes back later). */
  async function signingSecret(): Promise<string | undefined> {
    const { secret } = options;
    if (typeof secret !== 'function') return secret;
    try {
      return await secret();
    } catch (error) {
      // The source's message names the secret and the problem, never the secret's value.
      const reason = `webhook signing secret unavailable: ${error instanceof Error ? error.message : String(error)}`;
      throw new TransientDeliveryError(boundReason(reason), { cause: error, summary: boundReason(reason) });
    }
  }

  return {
    name: 'webhook',
    maxBatchSize,
    async deliverBatch(batch: ChannelBatch): Promise<ChannelResult[]> {
      const { messages } = batch;
      if (messages.length > maxBatchSize) {
        throw new RangeError(`webhook batch of ${messages.length} messages, more than ${maxBatchSize}`);
      }
      if (messages.length === 0) return [];
      const payload: WebhookPayload = {
        type: 'campaign.messages',
        appId: batch.appId,
        campaignId: batch.campaignId,
        messages: messages.map((m) => ({
          idempotencyKey: m.idempotencyKey,
          userId: m.userId,
          title: m.title,
          body: m.body,
        })),
      };
      const body = JSON.stringify(payload);
      const secret = await signingSecret();
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'idempotency-key': batchIdempotencyKey(messages),
        'user-agent': 'csv-campaigns-webhook/1',
      };
      if (secret) {
        headers['webhook-signature'] = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
      }

      for (let tries = 1; ; tries += 1) {
        const outcome = await attempt(body, headers, messages);
        if (outcome.kind === 'answered') return outcome.results;
        if (outcome.kind === 'permanent') {
          throw new PermanentDeliveryError(boundReason(outcome.reason), {
            attempts: tries,
            summary: outcome.summary,
          });
        }
        const { retryAfterMs } = outcome;
        const tooLong = retryAfterMs !== undefined && retryAfterMs > maxRetryAfterMs;
        if (tries >= maxAttempts || tooLong) {
          const why = tooLong ? `; it asked to retry after ${retryAfterMs} ms` : '';
          const after = ` (after ${tries} ${tries === 1 ? 'try' : 'tries'}${why})`;
          throw new TransientDeliveryError(boundReason(`${outcome.reason}${after}`), {
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
