import { createHash } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  batchIdempotencyKey,
  createWebhookChannel,
  parseRetryAfter,
  WEBHOOK_DEFAULTS,
  WEBHOOK_MAX_ANSWER_BYTES,
  type WebhookChannelOptions,
  webhookCallBudgetMs,
} from '#shared/adapters/webhook-channel.ts';
import {
  boundReason,
  type ChannelBatch,
  type ChannelMessage,
  type DeliveryError,
  idempotencyKeyOf,
  loggableReason,
  MAX_REASON_LENGTH,
  PermanentDeliveryError,
  TransientDeliveryError,
} from '#shared/domain/channel.ts';

interface Received {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One answer per request, in order; the last one repeats. `hang` never answers; a
 * function answers as it likes.
 */
type Step =
  | { status: number; headers?: Record<string, string>; body?: string }
  | 'hang'
  | ((req: IncomingMessage, res: ServerResponse) => void);

interface Scripted {
  url: string;
  received: Received[];
}

const servers: Server[] = [];

async function scriptedServer(steps: Step[]): Promise<Scripted> {
  const received: Received[] = [];
  const server = createServer((req, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const step = steps[Math.min(received.length, steps.length) - 1];
      if (step === undefined || step === 'hang') return;
      if (typeof step === 'function') return step(req, res);
      res.writeHead(step.status, step.headers);
      res.end(step.body ?? '');
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks/deliver`, received };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

function message(userId: string, title: string | null = `Hello ${userId}`): ChannelMessage {
  return {
    userId,
    title,
    body: `Your <b>order</b> shipped ✓ ${userId}`,
    idempotencyKey: idempotencyKeyOf('cmp_1', userId),
  };
}

const batch: ChannelBatch = {
  appId: 'app_1',
  campaignId: 'cmp_1',
  messages: [message('user:42'), message('u2', null), message('u3')],
};

/** The batch key, computed here from its definition rather than with the channel's function. */
function expectedKey(messages: readonly ChannelMessage[]): string {
  const sorted = messages.map((m) => m.idempotencyKey).sort();
  return `batch_${createHash('sha256').update(JSON.stringify(sorted)).digest('hex')}`;
}

/** Fast and observable: no real backoff, every wait recorded. */
function options(url: string, extra: Partial<WebhookChannelOptions> = {}) {
  const waits: number[] = [];
  const opts: WebhookChannelOptions = {
    url,
    timeoutMs: 2_000,
    maxAttempts: 3,
    random: () => 0.5,
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...extra,
  };
  return { opts, waits };
}

async function failure(promise: Promise<unknown>): Promise<DeliveryError> {
  try {
    await promise;
  } catch (error) {
    return error as DeliveryError;
  }
  throw new Error('expected the delivery to fail');
}

/** A 200 answering with `results`. */
function resultsAnswer(results: unknown): Step {
  return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ results }) };
}

const accepted = { status: 'accepted' } as const;

describe('webhook channel: the request', () => {
  it('POSTs the batch as one JSON body, with the batch key, and accepts all on a bare 200', async () => {
    const server = await scriptedServer([{ status: 200 }]);
    const channel = createWebhookChannel(options(server.url).opts);
    expect(channel.name).toBe('webhook');
    expect(channel.maxBatchSize).toBe(100);
    expect(await channel.deliverBatch(batch)).toEqual([accepted, accepted, accepted]);

    expect(server.received).toHaveLength(1);
    const [request] = server.received;
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('/hooks/deliver');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['idempotency-key']).toBe(expectedKey(batch.messages));
    expect(request?.headers['idempotency-key']).toMatch(/^batch_[0-9a-f]{64}$/);
    expect(request?.headers['user-agent']).toBe('csv-campaigns-webhook/1');
    expect(request?.headers['webhook-signature']).toBeUndefined();
    const body = JSON.parse(request?.body ?? '');
    expect(body).toEqual({
      type: 'campaign.messages',
      appId: 'app_1',
      campaignId: 'cmp_1',
      messages: [
        {
          idempotencyKey: 'cmp_1:user:42',
          userId: 'user:42',
          title: 'Hello user:42',
          body: 'Your <b>order</b> shipped ✓ user:42',
        },
        { idempotencyKey: 'cmp_1:u2', userId: 'u2', title: null, body: 'Your <b>order</b> shipped ✓ u2' },
        {
          idempotencyKey: 'cmp_1:u3',
          userId: 'u3',
          title: 'Hello u3',
          body: 'Your <b>order</b> shipped ✓ u3',
        },
      ],
    });
    // Exactly these fields, the untitled message's `title` present as null.
    expect(Object.keys(body)).toEqual(['type', 'appId', 'campaignId', 'messages']);
    expect(Object.keys(body.messages[1])).toEqual(['idempotencyKey', 'userId', 'title', 'body']);
  });

  it('keys a batch by its set of messages: the same in any order, another for other messages', () => {
    const [a, b, c] = batch.messages as [ChannelMessage, ChannelMessage, ChannelMessage];
    expect(batchIdempotencyKey([a, b, c])).toBe(expectedKey([a, b, c]));
    expect(batchIdempotencyKey([c, a, b])).toBe(batchIdempotencyKey([a, b, c]));
    expect(batchIdempotencyKey([a, b])).not.toBe(batchIdempotencyKey([a, b, c]));
    // Keys are not merely joined: ["x,y"] is not ["x", "y"].
    expect(batchIdempotencyKey([{ idempotencyKey: 'x,y' }])).not.toBe(
      batchIdempotencyKey([{ idempotencyKey: 'x' }, { idempotencyKey: 'y' }]),
    );
  });

  it('sends nothing for an empty batch, and refuses one over its batch size without a request', async () => {
    const server = await scriptedServer([{ status: 200 }]);
    const channel = createWebhookChannel(options(server.url, { maxBatchSize: 2 }).opts);
    expect(channel.maxBatchSize).toBe(2);
    expect(await channel.deliverBatch({ ...batch, messages: [] })).toEqual([]);
    await expect(channel.deliverBatch(batch)).rejects.toThrow(RangeError);
    expect(server.received).toHaveLength(0);
    expect(await channel.deliverBatch({ ...batch, messages: batch.messages.slice(0, 2) })).toHaveLength(2);
    expect(server.received).toHaveLength(1);
  });

  it('refuses a URL that is not http or https, and a batch size out of 1-100', () => {
    expect(() => createWebhookChannel({ url: 'ftp://example.com/x' })).toThrow(/http or https/);
    expect(() => createWebhookChannel({ url: 'not a url' })).toThrow();
    for (const maxBatchSize of [0, 101, 1.5]) {
      expect(() => createWebhookChannel({ url: 'https://example.com/x', maxBatchSize })).toThrow(RangeError);
    }
    expect(createWebhookChannel({ url: 'https://example.com/x', maxBatchSize: 1 }).maxBatchSize).toBe(1);
    expect(createWebhookChannel({ url: 'https://example.com/x', maxBatchSize: 100 }).maxBatchSize).toBe(100);
  });
});

describe('webhook channel: a 2xx answer', () => {
  it.each<[string, Step]>([
    ['204 without a body', { status: 204 }],
    ['202 with text', { status: 202, body: 'OK, queued' }],
    ['200 with JSON but no results', { status: 200, body: '{"ok":true}' }],
    ['200 with results null', { status: 200, body: '{"results":null}' }],
    ['200 with a JSON array', { status: 200, body: '[1,2]' }],
  ])('accepts every message on a %s', async (_, step) => {
    const server = await scriptedServer([step]);
    const results = await createWebhookChannel(options(server.url).opts).deliverBatch(batch);
    expect(results).toEqual([accepted, accepted, accepted]);
  });

  it('maps results to messages: rejected with its reason, unlisted accepted, unknown keys ignored', async () => {
    const server = await scriptedServer([
      resultsAnswer([
        { idempotencyKey: 'cmp_1:u3', status: 'rejected', reason: 'unknown device token' },
        { idempotencyKey: 'cmp_9:someone-else', status: 'rejected', reason: 'not yours' },
        { idempotencyKey: 'cmp_1:user:42', status: 'accepted' },
      ]),
    ]);
    const results = await createWebhookChannel(options(server.url).opts).deliverBatch(batch);
    expect(results).toEqual([
      accepted,
      accepted,
      { status: 'rejected', reason: 'webhook rejected the message: unknown device token' },
    ]);
    expect(server.received).toHaveLength(1);
  });

  it('gives a rejection without a reason a default naming the status', async () => {
    const server = await scriptedServer([
      resultsAnswer([
        { idempotencyKey: 'cmp_1:user:42', status: 'rejected' },
        { idempotencyKey: 'cmp_1:u2', status: 'rejected', reason: '   ' },
        { idempotencyKey: 'cmp_1:u3', status: 'rejected', reason: 42 },
      ]),
    ]);
    const results = await createWebhookChannel(options(server.url).opts).deliverBatch(batch);
    const fallback = {
      status: 'rejected',
      reason: 'webhook answered 200 and rejected the message without a reason',
    };
    expect(results).toEqual([fallback, fallback, fallback]);
  });

  it('rejects a message listed twice when either entry rejects it', async () => {
    const server = await scriptedServer([
      resultsAnswer([
        { idempotencyKey: 'cmp_1:u2', status: 'rejected', reason: 'blocked' },
        { idempotencyKey: 'cmp_1:u2', status: 'accepted' },
      ]),
    ]);
    const results = await createWebhookChannel(options(server.url).opts).deliverBatch(batch);
    expect(results[1]).toEqual({ status: 'rejected', reason: 'webhook rejected the message: blocked' });
  });

  it(`bounds a rejection reason to ${MAX_REASON_LENGTH} characters`, async () => {
    const server = await scriptedServer([
      resultsAnswer([{ idempotencyKey: 'cmp_1:u2', status: 'rejected', reason: 'why '.repeat(2000) }]),
    ]);
    const results = await createWebhookChannel(options(server.url).opts).deliverBatch(batch);
    const result = results[1];
    if (result?.status !== 'rejected') throw new Error(`expected a rejection, got ${JSON.stringify(result)}`);
    expect(result.reason).toHaveLength(MAX_REASON_LENGTH);
    expect(result.reason.startsWith('webhook rejected the message: why why')).toBe(true);
    expect(result.reason.endsWith('…')).toBe(true);
  });

  it.each<[string, unknown]>([
    ['not a list', 'all good'],
    ['an entry without a key', [{ status: 'rejected' }]],
    ['an unknown status', [{ idempotencyKey: 'cmp_1:u2', status: 'queued' }]],
  ])('treats results that are %s as a protocol error, retried, then transient', async (_, results) => {
    const server = await scriptedServer([resultsAnswer(results)]);
    const { opts, waits } = options(server.url, { maxAttempts: 2 });
    const error = await failure(createWebhookChannel(opts).deliverBatch(batch));
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect(error.message).toBe(
      'webhook answered 200 with a "results" that is not a list of message results (after 2 tries)',
    );
    expect(server.received).toHaveLength(2);
    expect(waits).toHaveLength(1);
  });
});

describe('webhook channel: refusals', () => {
  it.each([400, 401, 403, 404, 410, 422])(
    'treats %i as permanent for the batch, without retrying',
    async (status) => {
      const server = await scriptedServer([{ status, body: '{"error":"unknown app"}' }]);
      const { opts, waits } = options(server.url);
      const error = await failure(createWebhookChannel(opts).deliverBatch(batch));
      expect(error).toBeInstanceOf(PermanentDeliveryError);
      expect(error.message).toBe(`webhook answered ${status}: {"error":"unknown app"}`);
      expect(error.attempts).toBe(1);
      expect(server.received).toHaveLength(1);
      expect(waits).toEqual([]);
    },
  );

  it('keeps at most 200 characters of an error answer', async () => {
    const server = await scriptedServer([{ status: 400, body: 'x'.repeat(5000) }]);
    const error = await failure(createWebhookChannel(options(server.url).opts).deliverBatch(batch));
    expect(error.message).toBe(`webhook answered 400: ${'x'.repeat(200)}`);
  });

  it.each([301, 302, 307, 308])('does not follow a %i redirect: permanent, saying so', async (status) => {
    const elsewhere = await scriptedServer([{ status: 200 }]);
    const server = await scriptedServer([{ status, headers: { location: elsewhere.url } }]);
    const { opts, waits } = options(server.url);
    const error = await failure(createWebhookChannel(opts).deliverBatch(batch));
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toBe(
      `webhook answered ${status}: redirects are not followed, set the webhook URL to the final one`,
    );
    expect(server.received).toHaveLength(1);
    expect(elsewhere.received).toHaveLength(0);
    expect(waits).toEqual([]);
  });
});

describe('webhook channel: the address guard', () => {
  it('never reaches a loopback receiver on AWS: permanent at once, naming the rule', async () => {
    const server = await scriptedServer([{ status: 200 }]);
    const { opts, waits } = options(server.url, { policy: { allowLoopback: false } });
    const error = await failure(createWebhookChannel(opts).deliverBatch(batch));
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toBe(
      'refused to connect: 127.0.0.1 is a loopback address, not allowed as a destination (rule "forbidden-address")',
    );
    expect(error.summary).toBe(error.message);
    expect(error.attempts).toBe(1);
    expect(server.received).toHaveLength(0);
    expect(waits).toEqual([]);
  });

  it('reaches a loopback receiver when loopback is allowed, through the same guarded path', async () => {
    const server = await scriptedServer([
      { status: 500 },
      resultsAnswer([{ idempotencyKey: 'cmp_1:u2', status: 'rejected', reason: 'no' }]),
    ]);
    const { opts } = options(server.url, { policy: { allowLoopback: true } });
    const results = await createWebhookChannel(opts).deliverBatch(batch);
    expect(results).toEqual([
      accepted,
      { status: 'rejected', reason: 'webhook rejected the message: no' },
      accepted,
    ]);
    expect(server.received).toHaveLength(2);
  });

  it('keeps redirects unfollowed through the guarded path', async () => {
    const elsewhere = await scriptedServer([{ status: 200 }]);
    const server = await scriptedServer([{ status: 307, headers: { location: elsewhere.url } }]);
    const { opts } = options(server.url, { policy: { allowLoopback: true } });
    const error = await failure(createWebhookChannel(opts).deliverBatch(batch));
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toMatch(/^webhook answered 307: redirects are not followed/);
    expect(elsewhere.received).toHaveLength(0);
  });
});

describe('webhook channel: transient failures', () => {
  it('retries a 500 and succeeds on the next answer, with the same key and body', async () => {
    const server = await scriptedServer([
      { status: 500, body: 'oops' },
      resultsAnswer([{ idempotencyKey: 'cmp_1:u2', status: 'rejected', reason: 'gone' }]),
    ]);
    const { opts, waits } = options(server.url, { baseDelayMs: 100, random: () => 0.5 });
    const results = await createWebhookChannel(opts).deliverBatch(batch);
    expect(results).toEqual([
      accepted,
      { status: 'rejected', reason: 'webhook rejected the message: gone' },
      accepted,
    ]);
    expect(server.received).toHaveLength(2);
    const key = expectedKey(batch.messages);
    expect(server.received.map((r) => r.headers['idempotency-key'])).toEqual([key, key]);
    expect(server.received[1]?.body).toBe(server.received[0]?.body);
    expect(waits).toEqual([50]);
  });

  it('gives up after maxAttempts on repeated 503 with a TransientDeliveryError', async () => {
    const server = await scriptedServer([{ status: 503, body: 'down for maintenance' }]);
    const { opts, waits } = options(server.url, {
      maxAttempts: 4,
      baseDelayMs: 100,
      maxDelayMs: 300,
      random: () => 1,
    });
    const error = await failure(createWebhookChannel(opts).deliverBatch(batch));
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect(error.attempts).toBe(4);
    expect(error.message).toBe('webhook answered 503: down for maintenance (after 4 tries)');
    expect(server.received).toHaveLength(4);
    expect(new Set(server.received.map((r) => r.headers['idempotency-key']))).toEqual(
      new Set([expectedKey(batch.messages)]),
    );
    // Exponential, capped: 100, 200, then 300 instead of 400.
    expect(waits).toEqual([100, 200, 300]);
  });

  it('waits as long as Retry-After says on a 429 (seconds)', async () => {
    const server = await scriptedServer([{ status: 429, headers: { 'retry-after': '2' } }, { status: 200 }]);
    const { opts, waits } = options(server.url);
    expect(await createWebhookChannel(opts).deliverBatch(batch)).toEqual([accepted, accepted, accepted]);
    expect(server.received).toHaveLength(2);
    expect(waits).toEqual([2000]);
  });

  it('tells the caller each time the far side asks to slow down: a 429, or any answer with Retry-After', async () => {
    const server = await scriptedServer([
      { status: 429 },
      { status: 503, headers: { 'retry-after': '1' } },
      { status: 503 },
      { status: 200 },
    ]);
    const { opts } = options(server.url, { maxAttempts: 4 });
    const told: (number | undefined)[] = [];
    const answer = await createWebhookChannel(opts).deliverBatch({
      ...batch,
      onThrottle: (retryAfterMs) => told.push(retryAfterMs),
    });
    expect(answer).toEqual([accepted, accepted, accepted]);
    expect(server.received).toHaveLength(4);
    // The plain 503 is a failure, not a request to slow down.
    expect(told).toEqual([undefined, 1000]);
  });

  it('waits until the HTTP date of Retry-After', async () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const retryAt = new Date(now + 3000).toUTCString();
    const server = await scriptedServer([
      { status: 503, headers: { 'retry-after': retryAt } },
      { status: 200 },
    ]);
    const { opts, waits } = options(server.url, { now: () => now });
    await createWebhookChannel(opts).deliverBatch(batch);
    expect(waits).toEqual([3000]);
  });

  it('stops at once when Retry-After is longer than the cap, reporting how long to wait', async () => {
    const server = await scriptedServer([{ status: 429, headers: { 'retry-after': '60' } }, { status: 200 }]);
    const { opts, waits } = options(server.url, { maxRetryAfterMs: 5000 });
    const error = await failure(createWebhookChannel(opts).deliverBatch(batch));
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect((error as TransientDeliveryError).retryAfterMs).toBe(60_000);
    expect(error.attempts).toBe(1);
    expect(error.message).toMatch(/webhook answered 429 \(after 1 try; it asked to retry after 60000 ms\)/);
    expect(server.received).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it('retries a 408 request timeout', async () => {
    const server = await scriptedServer([{ status: 408 }, { status: 200 }]);
    await createWebhookChannel(options(server.url).opts).deliverBatch(batch);
    expect(server.received).toHaveLength(2);
  });

  it('abandons an attempt that gets no answer within the timeout, and retries it with the same key', async () => {
    const server = await scriptedServer(['hang', { status: 200 }]);
    const started = Date.now();
    const results = await createWebhookChannel(options(server.url, { timeoutMs: 150 }).opts).deliverBatch(
      batch,
    );
    expect(results).toEqual([accepted, accepted, accepted]);
    expect(server.received).toHaveLength(2);
    expect(server.received[1]?.headers['idempotency-key']).toBe(
      server.received[0]?.headers['idempotency-key'],
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('fails transiently when every attempt times out', async () => {
    const server = await scriptedServer(['hang']);
    const error = await failure(
      createWebhookChannel(options(server.url, { timeoutMs: 100, maxAttempts: 2 }).opts).deliverBatch(batch),
    );
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect(error.message).toBe('no answer within 100 ms (after 2 tries)');
    expect(server.received).toHaveLength(2);
  });

  it('counts the body in the timeout: an answer whose body stalls is no answer', async () => {
    const server = await scriptedServer([
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"results":[');
      },
    ]);
    const error = await failure(
      createWebhookChannel(options(server.url, { timeoutMs: 150, maxAttempts: 1 }).opts).deliverBatch(batch),
    );
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect(error.message).toBe('no answer within 150 ms (after 1 try)');
  });

  it('retries a refused connection and fails transiently naming the cause', async () => {
    const server = await scriptedServer([{ status: 200 }]);
    const closed = servers.pop();
    await new Promise<void>((resolve) => closed?.close(() => resolve()));
    const { opts, waits } = options(server.url, { maxAttempts: 3 });
    const error = await failure(createWebhookChannel(opts).deliverBatch(batch));
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect(error.message).toBe('request failed (ECONNREFUSED) (after 3 tries)');
    expect(error.summary).toBe('request failed (ECONNREFUSED) (after 3 tries)');
    expect(error.cause).toBeInstanceOf(Error);
    expect(waits).toHaveLength(2);
  });

  it('uses real timers by default', async () => {
    const server = await scriptedServer([{ status: 500 }, { status: 200 }]);
    const started = Date.now();
    await createWebhookChannel({ url: server.url, baseDelayMs: 40, random: () => 0.99 }).deliverBatch(batch);
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
  });
});

describe('webhookCallBudgetMs', () => {
  it('is 25 s with the defaults: three tries of 5 s and two waits of up to 5 s', () => {
    expect(webhookCallBudgetMs(WEBHOOK_DEFAULTS)).toBe(3 * 5_000 + 2 * 5_000);
  });

  it('takes the larger of the backoff cap and the Retry-After cap for each wait', () => {
    const odd = { timeoutMs: 1_234, maxAttempts: 4, maxDelayMs: 7_000, maxRetryAfterMs: 300 };
    expect(webhookCallBudgetMs(odd)).toBe(4 * 1_234 + 3 * 7_000);
    expect(webhookCallBudgetMs({ ...odd, maxRetryAfterMs: 9_000 })).toBe(4 * 1_234 + 3 * 9_000);
    // One try waits for nothing; no tries at all is one try, as the channel makes.
    expect(webhookCallBudgetMs({ ...odd, maxAttempts: 1 })).toBe(1_234);
    expect(webhookCallBudgetMs({ ...odd, maxAttempts: 0 })).toBe(1_234);
  });

  it('bounds what the channel waits: Retry-After at the cap is waited for, one second more is not', async () => {
    const config = { timeoutMs: 2_000, maxAttempts: 3, maxDelayMs: 100, maxRetryAfterMs: 4_000 };
    const waitBudget = webhookCallBudgetMs(config) - config.maxAttempts * config.timeoutMs;
    const atCap = await scriptedServer([{ status: 429, headers: { 'retry-after': '4' } }]);
    const slept = options(atCap.url, config);
    await failure(createWebhookChannel(slept.opts).deliverBatch(batch));
    expect(slept.waits).toEqual([4_000, 4_000]);
    expect(slept.waits.reduce((a, b) => a + b, 0)).toBe(waitBudget);

    const overCap = await scriptedServer([{ status: 429, headers: { 'retry-after': '5' } }]);
    const stopped = options(overCap.url, config);
    const error = await failure(createWebhookChannel(stopped.opts).deliverBatch(batch));
    expect((error as TransientDeliveryError).retryAfterMs).toBe(5_000);
    expect(stopped.waits).toEqual([]);
    expect(overCap.received).toHaveLength(1);
  });
});

describe('webhook channel: the size of an answer', () => {
  const tooLarge = `webhook answered 200 with a body over ${WEBHOOK_MAX_ANSWER_BYTES} bytes, not read further`;

  it('stops reading an endless answer after 1 MiB: a protocol error, transient', async () => {
    const closed: Promise<void>[] = [];
    const server = await scriptedServer([
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"results":[],"padding":"');
        const chunk = 'x'.repeat(64 * 1024);
        let open = true;
        closed.push(new Promise((resolve) => res.on('close', resolve)));
        res.on('close', () => {
          open = false;
        });
        const pump = () => {
          while (open && res.write(chunk)) {}
        };
        res.on('drain', pump);
        pump();
      },
    ]);
    // A timeout far beyond the test's: an endless read would time the test out, not pass.
    const { opts } = options(server.url, { timeoutMs: 600_000, maxAttempts: 2 });
    const error = await failure(createWebhookChannel(opts).deliverBatch(batch));
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect(error.message).toBe(`${tooLarge} (after 2 tries)`);
    expect(server.received).toHaveLength(2);
    // Both endless answers were cut off by the channel (the server never ends them).
    expect(closed).toHaveLength(2);
    await Promise.all(closed);
  });

  it('does not start reading an answer that declares more than 1 MiB', async () => {
    const server = await scriptedServer([
      (_req, res) => {
        res.writeHead(200, { 'content-length': String(WEBHOOK_MAX_ANSWER_BYTES + 1) });
        // A few bytes, then nothing: only the declared length can tell.
        res.write('{"results":');
      },
    ]);
    const { opts } = options(server.url, { timeoutMs: 600_000, maxAttempts: 1 });
    const error = await failure(createWebhookChannel(opts).deliverBatch(batch));
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect(error.message).toBe(`${tooLarge} (after 1 try)`);
  });

  it('reads an answer of exactly 1 MiB, and not one byte more', async () => {
    const answer = (bytes: number) => {
      const head = JSON.stringify({
        results: [{ idempotencyKey: 'cmp_1:u2', status: 'rejected', reason: 'no' }],
      });
      return `${head.slice(0, -1)},"padding":"${'x'.repeat(bytes - head.length - 13)}"}`;
    };
    expect(Buffer.byteLength(answer(WEBHOOK_MAX_ANSWER_BYTES))).toBe(WEBHOOK_MAX_ANSWER_BYTES);
    // Chunked, without a length: the count of bytes read decides.
    const chunked =
      (body: string): Step =>
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(body.slice(0, 1000));
        res.end(body.slice(1000));
      };
    const fits = await scriptedServer([chunked(answer(WEBHOOK_MAX_ANSWER_BYTES))]);
    const results = await createWebhookChannel(options(fits.url).opts).deliverBatch(batch);
    expect(results[1]).toEqual({ status: 'rejected', reason: 'webhook rejected the message: no' });

    const over = await scriptedServer([chunked(answer(WEBHOOK_MAX_ANSWER_BYTES + 1))]);
    const error = await failure(
      createWebhookChannel(options(over.url, { maxAttempts: 1 }).opts).deliverBatch(batch),
    );
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect(error.message).toBe(`${tooLarge} (after 1 try)`);
  });
});

describe('webhook channel: what the logs get', () => {
  const MARK = 'Z9PRIVATE';
  const privateBatch: ChannelBatch = {
    appId: 'app_1',
    campaignId: 'cmp_1',
    messages: [
      {
        userId: `${MARK}-user`,
        title: `${MARK} title`,
        body: `${MARK} body`,
        idempotencyKey: `cmp_1:${MARK}-user`,
      },
    ],
  };
  /** Echoes what it was sent, as many receivers do in their answers. */
  const echo =
    (status: number, extra: Record<string, string> = {}): Step =>
    (req, res) => {
      res.writeHead(status, { 'content-type': 'application/json', ...extra });
      res.end(JSON.stringify({ error: `bad ${MARK}`, headers: req.headers }));
    };

  it.each<[string, Step, typeof PermanentDeliveryError | typeof TransientDeliveryError]>([
    ['a 4xx', echo(422), PermanentDeliveryError],
    ['a 3xx', echo(302, { location: 'http://127.0.0.1:1/x' }), PermanentDeliveryError],
    ['a 5xx', echo(503), TransientDeliveryError],
    ['a 429', echo(429, { 'retry-after': '3600' }), TransientDeliveryError],
    ['unreadable results', resultsAnswer(`${MARK} not a list`), TransientDeliveryError],
  ])("summarizes %s without the answer's text or user data", async (_, step, kind) => {
    const server = await scriptedServer([step]);
    const error = await failure(
      createWebhookChannel(options(server.url, { maxAttempts: 2 }).opts).deliverBatch(privateBatch),
    );
    expect(error).toBeInstanceOf(kind);
    expect(error.summary).toMatch(/^webhook answered \d{3}/);
    expect(error.summary).not.toContain(MARK);
    expect(error.summary).not.toContain('bad');
    expect(loggableReason(error)).toBe(error.summary);
  });

  it('keeps the text of an error answer on the message, for the recipients, and out of the summary', async () => {
    const body = JSON.stringify({ received: { userId: 'u-private', body: 'Hello Ann' } });
    const permanent = await scriptedServer([{ status: 422, body }]);
    const p = await failure(createWebhookChannel(options(permanent.url).opts).deliverBatch(batch));
    expect(p.message).toBe(`webhook answered 422: ${body}`);
    expect(p.summary).toBe('webhook answered 422');
    const transient = await scriptedServer([{ status: 503, body }]);
    const t = await failure(
      createWebhookChannel(options(transient.url, { maxAttempts: 2 }).opts).deliverBatch(batch),
    );
    expect(t.message).toBe(`webhook answered 503: ${body} (after 2 tries)`);
    expect(t.summary).toBe('webhook answered 503 (after 2 tries)');
    expect(loggableReason(t)).toBe(t.summary);
    expect(loggableReason(new Error(`boom ${body}`))).toBe('unexpected Error from the channel');
  });

  it('summarizes an oversized answer without any of it', async () => {
    const server = await scriptedServer([
      { status: 200, body: `${MARK}${'y'.repeat(WEBHOOK_MAX_ANSWER_BYTES)}` },
    ]);
    const error = await failure(
      createWebhookChannel(options(server.url, { maxAttempts: 1 }).opts).deliverBatch(privateBatch),
    );
    expect(error.summary).toBe(
      `webhook answered 200 with a body over ${WEBHOOK_MAX_ANSWER_BYTES} bytes, not read further (after 1 try)`,
    );
  });
});

describe('boundReason', () => {
  it(`keeps a reason of up to ${MAX_REASON_LENGTH} characters, and cuts a longer one with …`, () => {
    expect(MAX_REASON_LENGTH).toBe(500);
    const fits = 'a'.repeat(MAX_REASON_LENGTH);
    expect(boundReason(fits)).toBe(fits);
    const cut = boundReason(`${fits}b`);
    expect(cut).toHaveLength(MAX_REASON_LENGTH);
    expect(cut).toBe(`${'a'.repeat(MAX_REASON_LENGTH - 1)}…`);
  });

  it('never keeps half of a surrogate pair', () => {
    // '😀' is two UTF-16 units; the cut would fall between them.
    const reason = `${'a'.repeat(MAX_REASON_LENGTH - 2)}😀tail`;
    const cut = boundReason(reason);
    expect(cut.length).toBeLessThanOrEqual(MAX_REASON_LENGTH);
    expect(cut).toBe(`${'a'.repeat(MAX_REASON_LENGTH - 2)}…`);
    // No lone high surrogate at the end.
    expect(/[\uD800-\uDBFF]…$/.test(cut)).toBe(false);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it.each([
    ['120', 120_000],
    [' 0 ', 0],
    ['Thu, 01 Jan 2026 00:00:10 GMT', 10_000],
    ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
    ['', undefined],
    [null, undefined],
    ['1.5', undefined],
    ['-3', undefined],
    ['soon', undefined],
  ])('reads %j as %j ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});
