/**
 * The webhook delivery channel: POSTs each batch of rendered messages as JSON to one URL.
 *
 * Request: `POST <url>` with `Content-Type: application/json`, `Idempotency-Key:
 * batch_<hex SHA-256 of the batch's sorted message keys>` (`batchIdempotencyKey`, the
 * same on every try), `User-Agent: csv-campaigns-webhook/1`, and the Standard Webhooks
 * headers (https://www.standardwebhooks.com), so a receiver can verify a request with any
 * of the specification's libraries:
 * - `webhook-id`: the batch key again, the same on every try, for the receiver to drop a
 *   repeat;
 * - `webhook-timestamp`: integer seconds since the epoch when the try is made. Every try
 *   is signed anew, so a retry minutes later is not refused as a replay by a receiver that
 *   checks the timestamp (the libraries allow 5 minutes);
 * - `webhook-signature` (only with `secrets`): `v1,<base64 HMAC-SHA256 of
 *   "<id>.<timestamp>.<body>">` for each secret, separated by single spaces. During a
 *   rotation the old and the new secret both sign, so a receiver holding either verifies.
 * Body (`WebhookPayload`): `{ "type": "campaign.messages", "appId", "campaignId",
 * "messages": [ { "idempotencyKey", "userId", "title" (null when the template has none),
 * "body" } ] }`.
 *
 * With a `policy`, every connection goes through `guardedDispatcher`: an address inside
 * the deployment's network (loopback, private, link-local, instance metadata, …) is never
 * connected to, checked at connection time so that a DNS answer changed since the URL was
 * checked cannot slip through. Such a refusal is a `PermanentDeliveryError` naming the rule.
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
 *   consumer's time is limited, see `webhookCallBudgetMs`); the `TransientDeliveryError`
 *   carries it so the batch can come back later.
 * - 3xx: a `PermanentDeliveryError`; redirects are not followed (point the channel at the
 *   final URL). Any other answer (4xx): a `PermanentDeliveryError` naming the status.
 * - An answer body over `WEBHOOK_MAX_ANSWER_BYTES` is not read further: a protocol error
 *   (transient).
 *
 * An error's `summary` (what the logs get) holds the status and our own words only, never
 * the far side's text, which may echo user ids and variables; its message, which goes on
 * the recipients, may quote the first 200 characters of an error answer.
 *
 * `sendTestEvent` makes one request of the same shape, for an app to try its receiver.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { type Agent, fetch as undiciFetch } from 'undici';
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
import {
  type AddressPolicy,
  DESTINATION_ADDRESS_ERROR_CODE,
  guardedDispatcher,
} from '#shared/domain/destination-url.ts';
import { type DestinationTestResult, SIGNING_SECRET_PREFIX } from '#shared/domain/destinations.ts';
import { retry } from '#shared/retry.ts';

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
   * Standard Webhooks signing secrets (`whsec_` and the base64 of the key), the current one
   * first; each signs every request. No `webhook-signature` header without any. A function
   * is asked for them on every batch (the deployment's default webhook reads its secret
   * from Secrets Manager with a cache, so a rotation reaches a warm channel); when it
   * fails, the batch fails transiently and nothing is sent unsigned.
   */
  secrets?: readonly string[] | (() => Promise<readonly string[]>);
  /**
   * When given, every connection is checked by `guardedDispatcher`: an address inside the
   * deployment's network is never connected to (on AWS, `{ allowLoopback: false }`).
   */
  policy?: AddressPolicy;
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

/**
 * The longest one `deliverBatch` can take, every try used: each try is bounded by
 * `timeoutMs` (the answer's body included), and each wait between tries by the larger of
 * the backoff cap and the longest `Retry-After` waited for (a longer one stops the tries
 * at once instead). The deliver consumer needs it to know, before it calls, whether the
 * time it has left covers a call, rather than being cut off in the middle of one.
 */
export function webhookCallBudgetMs(o: {
  timeoutMs: number;
  maxAttempts: number;
  maxDelayMs: number;
  maxRetryAfterMs: number;
}): number {
  // As the channel does: at least one try.
  const attempts = Math.max(1, o.maxAttempts);
  return attempts * o.timeoutMs + (attempts - 1) * Math.max(o.maxDelayMs, o.maxRetryAfterMs);
}

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
 * One signer per secret, checked once when the channel is made rather than on every
 * request. The errors name the secret by its position only: a secret never goes in a message.
 */
export function signersOf(secrets: readonly string[]): Webhook[] {
  return secrets.map((secret, index) => {
    const field = `Webhook secrets[${index}]`;
    const fix =
      'use a Standard Webhooks secret, `whsec_` and the base64 of its key (newSigningSecret makes one)';
    if (!secret.startsWith(SIGNING_SECRET_PREFIX) || secret.length === SIGNING_SECRET_PREFIX.length) {
      throw new TypeError(
        `${field} does not start with "${SIGNING_SECRET_PREFIX}" followed by the key: ${fix}`,
      );
    }
    try {
      return new Webhook(secret);
    } catch {
      throw new TypeError(`${field} is not valid base64 after "${SIGNING_SECRET_PREFIX}": ${fix}`);
    }
  });
}

/**
 * The Standard Webhooks headers of one try: `webhook-id`, `webhook-timestamp` (integer
 * seconds of `atMs`) and, with signers, `webhook-signature` holding one `v1,<base64>` per
 * signer separated by spaces (the specification's way to sign with several keys).
 */
export function signatureHeaders(
  id: string,
  atMs: number,
  body: string,
  signers: readonly Webhook[],
): Record<string, string> {
  const seconds = Math.floor(atMs / 1000);
  const headers: Record<string, string> = { 'webhook-id': id, 'webhook-timestamp': String(seconds) };
  if (signers.length > 0) {
    const at = new Date(seconds * 1000);
    headers['webhook-signature'] = signers.map((signer) => signer.sign(id, at, body)).join(' ');
  }
  return headers;
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

interface Transient {
  kind: 'transient';
  reason: string;
  summary: string;
  retryAfterMs?: number;
  /** The far side asked us to slow down: a 429, or any answer with `Retry-After`. */
  throttled?: boolean;
  cause?: unknown;
}

type Outcome =
  | { kind: 'answered'; results: ChannelResult[] }
  | { kind: 'permanent'; reason: string; summary: string }
  | Transient;

/** A transient outcome of try `tries`: another try follows, unless it was the last. */
class TransientTry extends Error {
  readonly outcome: Transient;
  readonly tries: number;
  constructor(outcome: Transient, tries: number) {
    super(outcome.summary);
    this.outcome = outcome;
    this.tries = tries;
  }
}

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

/** What of an answer is read: the global `fetch`'s and undici's `Response` both fit. */
interface Answer {
  status: number;
  headers: { get(name: string): string | null };
  body: ReadableStream<Uint8Array> | null;
}

/**
 * The body of `response`, or undefined when it is longer than `limit` bytes: then no more
 * than about `limit` bytes are read and the rest is cancelled.
 */
async function readBounded(response: Answer, limit: number): Promise<Buffer | undefined> {
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

/**
 * One POST and its answer read (bounded), all under one timeout. With a dispatcher, through
 * undici's own `fetch` (the global one is another undici version, whose dispatcher
 * interface need not match); redirects are never followed either way.
 */
async function exchange(
  url: URL,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  dispatcher: Agent | undefined,
): Promise<{ response: Answer; bytes: Buffer | undefined }> {
  const init = {
    method: 'POST',
    headers,
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  } as const;
  const response: Answer = dispatcher
    ? await undiciFetch(url, { ...init, dispatcher })
    : await fetch(url, init);
  // Read the answer under the same timeout, which also frees the connection for reuse.
  return { response, bytes: await readBounded(response, WEBHOOK_MAX_ANSWER_BYTES) };
}

/** The guard's refusal somewhere in the causes of a failed fetch, if that is what failed it. */
function destinationRefusal(error: unknown): Error | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth += 1) {
    if ((e as { code?: unknown }).code === DESTINATION_ADDRESS_ERROR_CODE) return e;
  }
  return undefined;
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

/** Every header of one try: the batch key as `Idempotency-Key` and `webhook-id`, and the signature's. */
function requestHeaders(
  key: string,
  atMs: number,
  body: string,
  signers: readonly Webhook[],
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'idempotency-key': key,
    'user-agent': 'csv-campaigns-webhook/1',
    ...signatureHeaders(key, atMs, body, signers),
  };
}

/** `raw` parsed; throws on text that is not a URL or a scheme other than http(s). */
function webhookUrlOf(raw: string): URL {
  if (!URL.canParse(raw)) {
    throw new TypeError(
      'Webhook URL is not an absolute URL: give one like https://hooks.example.com/campaigns',
    );
  }
  const url = new URL(raw);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`Webhook URL must be http or https, got ${url.protocol}`);
  }
  return url;
}

/**
 * Creates a webhook channel; throws at once on a URL that is not http(s), a batch size out
 * of 1-100 or a secret that is not a Standard Webhooks secret.
 */
export function createWebhookChannel(options: WebhookChannelOptions): DeliveryChannel {
  const url = webhookUrlOf(options.url);
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
  const now = options.now ?? Date.now;
  const { secrets } = options;
  const fixedSigners = typeof secrets === 'function' ? undefined : signersOf(secrets ?? []);
  let fetched: { key: string; signers: Webhook[] } | undefined;

  /** The signers of this batch; a failure to get the secrets is transient (the batch comes back later). */
  async function signersNow(): Promise<readonly Webhook[]> {
    if (typeof secrets !== 'function') return fixedSigners ?? [];
    let list: readonly string[];
    try {
      list = await secrets();
    } catch (error) {
      // The source's message names the secret and the problem, never the secret's value.
      const reason = `webhook signing secret unavailable: ${error instanceof Error ? error.message : String(error)}`;
      throw new TransientDeliveryError(boundReason(reason), { cause: error, summary: boundReason(reason) });
    }
    const key = list.join(' ');
    if (fetched?.key !== key) fetched = { key, signers: signersOf(list) };
    return fetched.signers;
  }
  // One per channel, so its connections are reused across batches.
  const dispatcher = options.policy ? guardedDispatcher(options.policy) : undefined;

  async function attempt(
    body: string,
    headers: Record<string, string>,
    messages: readonly ChannelMessage[],
  ): Promise<Outcome> {
    let response: Answer;
    let bytes: Buffer | undefined;
    try {
      ({ response, bytes } = await exchange(url, headers, body, timeoutMs, dispatcher));
    } catch (error) {
      const refusal = destinationRefusal(error);
      if (refusal !== undefined) {
        // The address will not change by trying again: the URL must.
        const reason = `refused to connect: ${refusal.message}`;
        return { kind: 'permanent', reason, summary: reason };
      }
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
      const throttled = status === 429 || retryAfterMs !== undefined;
      return retryAfterMs === undefined
        ? { kind: 'transient', reason, summary, throttled }
        : { kind: 'transient', reason, summary, retryAfterMs, throttled };
    }
    return { kind: 'permanent', reason, summary };
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
      const key = batchIdempotencyKey(messages);
      const signers = await signersNow();

      const tooLong = (retryAfterMs: number | undefined) =>
        retryAfterMs !== undefined && retryAfterMs > maxRetryAfterMs;
      try {
        return await retry(
          async (tries) => {
            // Signed anew on every try: a retry carries the time it is made, not the first try's.
            const headers = requestHeaders(key, now(), body, signers);
            const outcome = await attempt(body, headers, messages);
            if (outcome.kind === 'answered') return outcome.results;
            if (outcome.kind === 'permanent') {
              throw new PermanentDeliveryError(boundReason(outcome.reason), {
                attempts: tries,
                summary: outcome.summary,
              });
            }
            if (outcome.throttled) batch.onThrottle?.(outcome.retryAfterMs);
            throw new TransientTry(outcome, tries);
          },
          {
            maxAttempts,
            baseDelayMs,
            maxDelayMs,
            random,
            sleep: options.sleep,
            retryable: (error) => error instanceof TransientTry && !tooLong(error.outcome.retryAfterMs),
            delayOf: (error) => (error as TransientTry).outcome.retryAfterMs,
          },
        );
      } catch (error) {
        if (!(error instanceof TransientTry)) throw error;
        const { outcome, tries } = error;
        const { retryAfterMs } = outcome;
        const why = tooLong(retryAfterMs) ? `; it asked to retry after ${retryAfterMs} ms` : '';
        const after = ` (after ${tries} ${tries === 1 ? 'try' : 'tries'}${why})`;
        throw new TransientDeliveryError(boundReason(`${outcome.reason}${after}`), {
          attempts: tries,
          summary: `${outcome.summary}${after}`,
          cause: outcome.cause,
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        });
      }
    },
  };
}

export interface TestEventOptions {
  url: string;
  appId: string;
  /** The destination's secrets, as a delivery signs with them. */
  secrets: readonly string[];
  /** Limit on the whole exchange (default 5,000 ms, a delivery try's). */
  timeoutMs?: number;
  policy?: AddressPolicy;
  /** The clock of `timestamp` and `webhook-timestamp`; replaceable in tests. */
  now?: () => number;
}

/** Plain words for the network failures an app can fix on its side. */
const FAILURE_WORDS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed before the answer',
};

/** A failed test send in plain words: `connection refused (ECONNREFUSED)`, `no answer within N ms`, `refused: …`. */
function testFailureWords(error: unknown, timeoutMs: number): string {
  const refusal = destinationRefusal(error);
  if (refusal !== undefined) return `refused: ${refusal.message}`;
  const code = (error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined)?.code;
  if (typeof code === 'string' && FAILURE_WORDS[code] !== undefined)
    return `${FAILURE_WORDS[code]} (${code})`;
  return describeFailure(error, timeoutMs).reason;
}

/**
 * One signed test request to a destination, for an app to see its receiver work before a
 * campaign depends on it: body `{"type":"test","appId","timestamp":<ISO>}`, the headers of
 * a delivery with `webhook-id: test_<random>`, no retries. Never throws: every failure,
 * a bad URL or secret included, is an answer with `ok: false` and the reason.
 */
export async function sendTestEvent(options: TestEventOptions): Promise<DestinationTestResult> {
  const timeoutMs = options.timeoutMs ?? WEBHOOK_DEFAULTS.timeoutMs;
  const now = options.now ?? Date.now;
  let url: URL;
  let signers: Webhook[];
  try {
    url = webhookUrlOf(options.url);
    signers = signersOf(options.secrets);
  } catch (error) {
    // Nothing was sent: the message names the URL's or the secret's problem.
    const message = error instanceof Error ? error.message : String(error);
    return { status: null, latencyMs: 0, ok: false, error: `not sent: ${message}` };
  }
  const at = now();
  const body = JSON.stringify({ type: 'test', appId: options.appId, timestamp: new Date(at).toISOString() });
  const headers = requestHeaders(`test_${randomBytes(16).toString('hex')}`, at, body, signers);
  const dispatcher = options.policy ? guardedDispatcher(options.policy) : undefined;
  const started = performance.now();
  const latencyMs = () => Math.round(performance.now() - started);
  try {
    const { response } = await exchange(url, headers, body, timeoutMs, dispatcher);
    const { status } = response;
    if (status >= 200 && status < 300) return { status, latencyMs: latencyMs(), ok: true };
    const error =
      status >= 300 && status < 400
        ? `answered ${status}: redirects are not followed, set the URL to the final one`
        : `answered ${status}`;
    return { status, latencyMs: latencyMs(), ok: false, error };
  } catch (error) {
    return { status: null, latencyMs: latencyMs(), ok: false, error: testFailureWords(error, timeoutMs) };
  } finally {
    // A test send's connections are not reused: close them now rather than at idle timeout.
    await dispatcher?.destroy().catch(() => undefined);
  }
}
