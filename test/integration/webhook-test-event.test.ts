/**
 * `sendTestEvent`: one signed request an app makes to try its receiver, answered in plain
 * words and never thrown.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { sendTestEvent } from '#shared/adapters/webhook-channel.ts';
import { newSigningSecret } from '#shared/domain/destinations.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** A loopback receiver: `answer` decides (leaving `res` alone never answers). */
async function receiver(answer: (req: IncomingMessage, res: ServerResponse, received: Received) => void) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(request);
      answer(req, res, request);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

const status =
  (code: number) =>
  (_req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(code);
    res.end();
  };

describe('sendTestEvent', () => {
  it('sends one signed test event that the receiver verifies, and reports its 204', async () => {
    const secret = newSigningSecret();
    const at = Date.now();
    const verified: unknown[] = [];
    const hook = await receiver((req, res, request) => {
      // The receiver's own check, as in docs/delivery.md: 401 unless it verifies.
      try {
        verified.push(new Webhook(secret).verify(request.body, req.headers as Record<string, string>));
        res.writeHead(204);
      } catch {
        res.writeHead(401);
      }
      res.end();
    });
    const result = await sendTestEvent({ url: hook.url, appId: 'app_1', secrets: [secret], now: () => at });
    expect(result).toEqual({ status: 204, latencyMs: expect.any(Number), ok: true });
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(verified).toEqual([{ type: 'test', appId: 'app_1', timestamp: new Date(at).toISOString() }]);
    const [request] = hook.received;
    expect(request?.body).toBe(
      JSON.stringify({ type: 'test', appId: 'app_1', timestamp: new Date(at).toISOString() }),
    );
    expect(request?.headers['webhook-id']).toMatch(/^test_[0-9a-f]{32}$/);
    expect(request?.headers['idempotency-key']).toBe(request?.headers['webhook-id']);
    expect(request?.headers['webhook-timestamp']).toBe(String(Math.floor(at / 1000)));
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['user-agent']).toBe('csv-campaigns-webhook/1');

    // Every test event is a message of its own.
    await sendTestEvent({ url: hook.url, appId: 'app_1', secrets: [secret] });
    expect(hook.received[1]?.headers['webhook-id']).not.toBe(request?.headers['webhook-id']);
  });

  it('reports a 500 as not ok with its status, without trying again', async () => {
    const hook = await receiver(status(500));
    const result = await sendTestEvent({ url: hook.url, appId: 'app_1', secrets: [newSigningSecret()] });
    expect(result).toEqual({ status: 500, latencyMs: expect.any(Number), ok: false, error: 'answered 500' });
    expect(hook.received).toHaveLength(1);
  });

  it('reports a redirect as not ok, without following it', async () => {
    const elsewhere = await receiver(status(204));
    const hook = await receiver((_req, res) => {
      res.writeHead(302, { location: elsewhere.url });
      res.end();
    });
    const result = await sendTestEvent({ url: hook.url, appId: 'app_1', secrets: [] });
    expect(result).toMatchObject({
      status: 302,
      ok: false,
      error: 'answered 302: redirects are not followed, set the URL to the final one',
    });
    expect(elsewhere.received).toHaveLength(0);
  });

  it('reports a port with nothing listening as a refused connection', async () => {
    const hook = await receiver(status(204));
    const closed = servers.pop();
    await new Promise<void>((resolve) => closed?.close(() => resolve()));
    const result = await sendTestEvent({ url: hook.url, appId: 'app_1', secrets: [newSigningSecret()] });
    expect(result).toEqual({
      status: null,
      latencyMs: expect.any(Number),
      ok: false,
      error: 'connection refused (ECONNREFUSED)',
    });
  });

  it('gives up on a receiver that never answers after timeoutMs, saying so', async () => {
    const hook = await receiver(() => undefined);
    const result = await sendTestEvent({ url: hook.url, appId: 'app_1', secrets: [], timeoutMs: 200 });
    expect(result).toEqual({
      status: null,
      latencyMs: expect.any(Number),
      ok: false,
      error: 'no answer within 200 ms',
    });
    expect(result.latencyMs).toBeGreaterThanOrEqual(190);
    expect(hook.received).toHaveLength(1);
  });

  it('refuses an address inside the network under the policy, naming the rule, without reaching it', async () => {
    const hook = await receiver(status(204));
    const refused = await sendTestEvent({
      url: hook.url,
      appId: 'app_1',
      secrets: [],
      policy: { allowLoopback: false },
    });
    expect(refused).toEqual({
      status: null,
      latencyMs: expect.any(Number),
      ok: false,
      error:
        'refused: 127.0.0.1 is a loopback address, not allowed as a destination (rule "forbidden-address")',
    });
    expect(hook.received).toHaveLength(0);
    const allowed = await sendTestEvent({
      url: hook.url,
      appId: 'app_1',
      secrets: [],
      policy: { allowLoopback: true },
    });
    expect(allowed).toMatchObject({ status: 204, ok: true });
    expect(hook.received).toHaveLength(1);
  });

  it('stops reading an endless answer instead of waiting for its end', async () => {
    const hook = await receiver((_req, res) => {
      res.writeHead(200);
      const chunk = 'x'.repeat(64 * 1024);
      let open = true;
      res.on('close', () => {
        open = false;
      });
      const pump = () => {
        while (open && res.write(chunk)) {}
      };
      res.on('drain', pump);
      pump();
    });
    // A timeout far beyond the test's: an endless read would time the test out, not pass.
    const result = await sendTestEvent({ url: hook.url, appId: 'app_1', secrets: [], timeoutMs: 600_000 });
    expect(result).toMatchObject({ status: 200, ok: true });
  });

  it('never throws: a bad secret or URL is an answer, and nothing is sent', async () => {
    const hook = await receiver(status(204));
    expect(await sendTestEvent({ url: hook.url, appId: 'app_1', secrets: ['s3cret'] })).toEqual({
      status: null,
      latencyMs: 0,
      ok: false,
      error:
        'not sent: Webhook secrets[0] does not start with "whsec_" followed by the key: use a Standard Webhooks secret, `whsec_` and the base64 of its key (newSigningSecret makes one)',
    });
    expect(await sendTestEvent({ url: 'not a url', appId: 'app_1', secrets: [] })).toMatchObject({
      status: null,
      ok: false,
      error:
        'not sent: Webhook URL is not an absolute URL: give one like https://hooks.example.com/campaigns',
    });
    expect(hook.received).toHaveLength(0);
  });
});
