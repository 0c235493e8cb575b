/**
 * A webhook receiver on loopback for tests: records every request (raw body, headers,
 * arrival time) and answers with what `answer` says, which may wait (to hold a request
 * while the test does something). Verifying is the test's business, with the
 * `standardwebhooks` package's own `Webhook.verify`.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedRequest {
  /** 1-based, in arrival order. */
  n: number;
  at: number;
  headers: Record<string, string>;
  body: string;
  json: {
    type: string;
    appId: string;
    campaignId: string;
    messages: { idempotencyKey: string; userId: string; title: string | null; body: string }[];
  };
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface WebhookReceiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Sets how the next requests are answered (default: 204). */
  answer(fn: (request: ReceivedRequest) => Answer | Promise<Answer>): void;
  close(): Promise<void>;
}

function headersOf(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === 'string') headers[name] = value;
  }
  return headers;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const requests: ReceivedRequest[] = [];
  let answerWith: (request: ReceivedRequest) => Answer | Promise<Answer> = () => ({ status: 204 });
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const request: ReceivedRequest = {
      n: requests.length + 1,
      at: Date.now(),
      headers: headersOf(req),
      body,
      json: JSON.parse(body),
    };
    requests.push(request);
    const answer = await answerWith(request);
    const text = answer.body === undefined ? '' : JSON.stringify(answer.body);
    res.writeHead(answer.status, {
      ...(text ? { 'content-type': 'application/json' } : {}),
      ...answer.headers,
    });
    res.end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    answer(fn) {
      answerWith = fn;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** True when `request` verifies with `secret` (Standard Webhooks, the package's own check). */
export function verifies(request: ReceivedRequest, secret: string): boolean {
  try {
    new Webhook(secret).verify(request.body, request.headers);
    return true;
  } catch {
    return false;
  }
}
