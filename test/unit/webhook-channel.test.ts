import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  backoffDelay,
  createWebhookChannel,
  parseRetryAfter,
  type WebhookChannelOptions,
} from '#shared/adapters/webhook-channel.ts';
import {
  type DeliveryMessage,
  idempotencyKeyOf,
  loggableReason,
  PermanentDeliveryError,
  TransientDeliveryError,
} from '#shared/domain/channel.ts';

interface Received {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One answer per request, in order; the last one repeats. `hang` never answers. */
type Step = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

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

const message: DeliveryMessage = {
  campaignId: 'cmp_1',
  userId: 'user:42',
  title: 'Hello Ada',
  body: 'Your <b>order</b> shipped ✓',
  idempotencyKey: idempotencyKeyOf('cmp_1', 'user:42'),
};

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

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the delivery to fail');
}

describe('webhook channel', () => {
  it('POSTs the message as JSON with the idempotency key in body and header', async () => {
    const server = await scriptedServer([{ status: 200 }]);
    const { opts } = options(server.url);
    await createWebhookChannel(opts).deliver(message);

    expect(server.received).toHaveLength(1);
    const [request] = server.received;
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('/hooks/deliver');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['idempotency-key']).toBe('cmp_1:user:42');
    expect(request?.headers['user-agent']).toBe('csv-campaigns-webhook/1');
    expect(request?.headers['webhook-signature']).toBeUndefined();
    expect(JSON.parse(request?.body ?? '')).toEqual({
      campaignId: 'cmp_1',
      userId: 'user:42',
      title: 'Hello Ada',
      body: 'Your <b>order</b> shipped ✓',
      idempotencyKey: 'cmp_1:user:42',
    });
  });

  it('sends title null when the message has no title', async () => {
    const server = await scriptedServer([{ status: 204 }]);
    const { title: _title, ...untitled } = message;
    await createWebhookChannel(options(server.url).opts).deliver(untitled);
    expect(JSON.parse(server.received[0]?.body ?? '').title).toBeNull();
  });

  it('signs the raw body with HMAC-SHA256 when a secret is set', async () => {
    const server = await scriptedServer([{ status: 202 }]);
    await createWebhookChannel(options(server.url, { secret: 's3cret' }).opts).deliver(message);
    const [request] = server.received;
    const expected = createHmac('sha256', 's3cret')
      .update(request?.body ?? '')
      .digest('hex');
    expect(request?.headers['webhook-signature']).toBe(`sha256=${expected}`);
  });

  it('retries a 500 and succeeds on the next answer, with the same key', async () => {
    const server = await scriptedServer([{ status: 500, body: 'oops' }, { status: 200 }]);
    const { opts, waits } = options(server.url, { baseDelayMs: 100, random: () => 0.5 });
    await createWebhookChannel(opts).deliver(message);
    expect(server.received).toHaveLength(2);
    expect(server.received.map((r) => r.headers['idempotency-key'])).toEqual([
      'cmp_1:user:42',
      'cmp_1:user:42',
    ]);
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
    const error = await failure(createWebhookChannel(opts).deliver(message));
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect((error as TransientDeliveryError).attempts).toBe(4);
    expect(error.message).toBe('webhook answered 503: down for maintenance (after 4 tries)');
    expect(server.received).toHaveLength(4);
    // Exponential, capped: 100, 200, then 300 instead of 400.
    expect(waits).toEqual([100, 200, 300]);
  });

  it('waits as long as Retry-After says on a 429 (seconds)', async () => {
    const server = await scriptedServer([{ status: 429, headers: { 'retry-after': '2' } }, { status: 200 }]);
    const { opts, waits } = options(server.url);
    await createWebhookChannel(opts).deliver(message);
    expect(server.received).toHaveLength(2);
    expect(waits).toEqual([2000]);
  });

  it('waits until the HTTP date of Retry-After', async () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const retryAt = new Date(now + 3000).toUTCString();
    const server = await scriptedServer([
      { status: 503, headers: { 'retry-after': retryAt } },
      { status: 200 },
    ]);
    const { opts, waits } = options(server.url, { now: () => now });
    await createWebhookChannel(opts).deliver(message);
    expect(waits).toEqual([3000]);
  });

  it('stops at once when Retry-After is longer than the cap, reporting how long to wait', async () => {
    const server = await scriptedServer([{ status: 429, headers: { 'retry-after': '60' } }, { status: 200 }]);
    const { opts, waits } = options(server.url, { maxRetryAfterMs: 5000 });
    const error = await failure(createWebhookChannel(opts).deliver(message));
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect((error as TransientDeliveryError).retryAfterMs).toBe(60_000);
    expect((error as TransientDeliveryError).attempts).toBe(1);
    expect(error.message).toMatch(/webhook answered 429 \(after 1 try; it asked to retry after 60000 ms\)/);
    expect(server.received).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it('retries a 408 request timeout', async () => {
    const server = await scriptedServer([{ status: 408 }, { status: 200 }]);
    await createWebhookChannel(options(server.url).opts).deliver(message);
    expect(server.received).toHaveLength(2);
  });

  it.each([400, 401, 403, 404, 410, 422])('treats %i as permanent, without retrying', async (status) => {
    const server = await scriptedServer([{ status, body: '{"error":"unknown user"}' }]);
    const { opts, waits } = options(server.url);
    const error = await failure(createWebhookChannel(opts).deliver(message));
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error.message).toBe(`webhook answered ${status}: {"error":"unknown user"}`);
    expect(server.received).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it('does not follow a redirect: a 3xx is permanent', async () => {
    const server = await scriptedServer([
      { status: 301, headers: { location: 'http://127.0.0.1:1/elsewhere' } },
    ]);
    const error = await failure(createWebhookChannel(options(server.url).opts).deliver(message));
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(server.received).toHaveLength(1);
  });

  it("summarizes a failure for the logs without the answer's text, which may echo the payload", async () => {
    const echo = JSON.stringify({ received: { userId: 'u-private', body: 'Hello Ann' } });
    const permanent = await scriptedServer([{ status: 422, body: echo }]);
    const p = (await failure(
      createWebhookChannel(options(permanent.url).opts).deliver(message),
    )) as PermanentDeliveryError;
    expect(p.message).toBe(`webhook answered 422: ${echo}`);
    expect(p.summary).toBe('webhook answered 422');
    const transient = await scriptedServer([{ status: 503, body: echo }]);
    const t = (await failure(
      createWebhookChannel(options(transient.url, { maxAttempts: 2 }).opts).deliver(message),
    )) as TransientDeliveryError;
    expect(t.message).toBe(`webhook answered 503: ${echo} (after 2 tries)`);
    expect(t.summary).toBe('webhook answered 503 (after 2 tries)');
    expect(loggableReason(t)).toBe(t.summary);
    expect(loggableReason(new Error(`boom ${echo}`))).toBe('unexpected Error from the channel');
  });

  it('keeps at most 200 characters of an error answer', async () => {
    const server = await scriptedServer([{ status: 400, body: 'x'.repeat(5000) }]);
    const error = await failure(createWebhookChannel(options(server.url).opts).deliver(message));
    expect(error.message).toBe(`webhook answered 400: ${'x'.repeat(200)}`);
  });

  it('abandons an attempt that gets no answer within the timeout, and retries it', async () => {
    const server = await scriptedServer(['hang', { status: 200 }]);
    const started = Date.now();
    await createWebhookChannel(options(server.url, { timeoutMs: 150 }).opts).deliver(message);
    expect(server.received).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('fails transiently when every attempt times out', async () => {
    const server = await scriptedServer(['hang']);
    const error = await failure(
      createWebhookChannel(options(server.url, { timeoutMs: 100, maxAttempts: 2 }).opts).deliver(message),
    );
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect(error.message).toBe('no answer within 100 ms (after 2 tries)');
    expect(server.received).toHaveLength(2);
  });

  it('retries a refused connection and fails transiently naming the cause', async () => {
    const server = await scriptedServer([{ status: 200 }]);
    const closed = servers.pop();
    await new Promise<void>((resolve) => closed?.close(() => resolve()));
    const { opts, waits } = options(server.url, { maxAttempts: 3 });
    const error = await failure(createWebhookChannel(opts).deliver(message));
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect(error.message).toBe('request failed (ECONNREFUSED) (after 3 tries)');
    expect((error as TransientDeliveryError).cause).toBeInstanceOf(Error);
    expect(waits).toHaveLength(2);
  });

  it('uses real timers by default', async () => {
    const server = await scriptedServer([{ status: 500 }, { status: 200 }]);
    const started = Date.now();
    await createWebhookChannel({ url: server.url, baseDelayMs: 40, random: () => 0.99 }).deliver(message);
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
  });

  it('refuses a URL that is not http or https', () => {
    expect(() => createWebhookChannel({ url: 'ftp://example.com/x' })).toThrow(/http or https/);
    expect(() => createWebhookChannel({ url: 'not a url' })).toThrow();
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

describe('backoffDelay', () => {
  it('doubles the ceiling per attempt up to the cap, scaled by the random draw', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, 100, 1000, 1))).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffDelay(3, 100, 1000, 0)).toBe(0);
    expect(backoffDelay(3, 100, 1000, 0.25)).toBe(100);
  });
});
