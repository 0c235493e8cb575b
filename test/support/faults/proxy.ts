/**
 * A fault-injecting HTTP proxy between the code and one AWS emulator (DynamoDB Local,
 * or fauxqs for S3 or SQS). Per operation, at a seeded rate, it answers with the
 * service's real wire-format throttling error or a plain 500/503, hands back part of a
 * `BatchWriteItem` as `UnprocessedItems`, fails part of a `SendMessageBatch`, cancels
 * a `TransactWriteItems` (`TransactionConflict`, as a concurrent transaction does), adds
 * latency, drops the connection (before or after the emulator saw the request), or holds
 * a request until the test lets it go (to force an order between two callers). It
 * counts every fault it injected, so a test can show its faults really fired.
 */
import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { listenOnLoopback } from '#infra/local/loopback.ts';
import { seededRandom } from '#test/support/flaky-channel.ts';

export type AwsService = 'dynamodb' | 'sqs' | 's3';

export type Fault =
  /** The service's throttling error: DynamoDB `ProvisionedThroughputExceededException`, SQS `ThrottlingException`, S3 `SlowDown`. */
  | { kind: 'throttle'; code?: string }
  /** A bare 500 or 503 with the service's error body. */
  | { kind: 'status'; status: 500 | 503 }
  /** BatchWriteItem: write only some items, return the rest as `UnprocessedItems` (default: half). */
  | { kind: 'unprocessed'; fraction?: number }
  /** SendMessageBatch: send only some entries, report the rest in `Failed` (default: one entry, `InternalError`). */
  | { kind: 'failEntries'; fraction?: number; code?: string; senderFault?: boolean }
  /**
   * TransactWriteItems: a `TransactionCanceledException`, nothing written, with `code`
   * (default `TransactionConflict`) as the reason of item `item` (default: the last) and
   * `None` for the others, as DynamoDB answers when another transaction holds an item.
   * `codes` gives every item's reason instead, in order (`None` past its end): a
   * `TransactionConflict` on one item beside a `ConditionalCheckFailed` on another.
   */
  | { kind: 'cancel'; code?: string; item?: number; codes?: readonly string[] }
  /**
   * Holds the request until `until` settles, then forwards it. Counted when it is held,
   * so a test can wait for a caller to be stopped there before it moves another.
   */
  | { kind: 'hold'; until: Promise<unknown> }
  /** Waits before forwarding (adds to whatever else happens). */
  | { kind: 'latency'; ms: number }
  /** Destroys the client's socket: `before` the emulator sees the request, or `after` it answered. */
  | { kind: 'drop'; when?: 'before' | 'after' };

export interface FaultRule {
  /** Operation name (`BatchWriteItem`, `SendMessageBatch`, `GetObject`…); every operation when absent. */
  operation?: string | readonly string[];
  /** Fraction of matching requests, or of the entries/items of a matching batch for `failEntries`. */
  rate: number;
  fault: Fault;
  /** Most injections of this rule (a burst: `rate: 1, limit: 5`). */
  limit?: number;
  /** Only requests whose JSON body contains this text (never an S3 request, whose body streams). */
  bodyIncludes?: string;
}

export interface FaultProxyOptions {
  service: AwsService;
  /** The emulator (or the next proxy) to forward to. */
  target: string;
  seed?: number;
  rules?: readonly FaultRule[];
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly service: AwsService;
  /** Replaces the rules (and their limits); `[]` turns faults off. */
  setRules(rules: readonly FaultRule[]): void;
  /** Faults injected, by `operation:kind` (`BatchWriteItem:unprocessed`, `Query:throttle`…). */
  injected(): Record<string, number>;
  /** Items or entries handed back as unprocessed or failed, by operation. */
  handedBack(): Record<string, number>;
  /** Requests seen, by operation. */
  requests(): Record<string, number>;
  stop(): Promise<void>;
}

/** The operation a request calls: from `X-Amz-Target`, the query protocol's `Action`, or S3's method and path. */
export function operationOf(
  service: AwsService,
  method: string,
  url: string,
  headers: Record<string, string | string[] | undefined>,
  body?: string,
): string {
  if (service !== 's3') {
    const target = headers['x-amz-target'];
    if (typeof target === 'string') return target.slice(target.lastIndexOf('.') + 1);
    const parsed = new URL(url, 'http://local');
    const action = parsed.searchParams.get('Action') ?? new URLSearchParams(body ?? '').get('Action');
    return action ?? 'Unknown';
  }
  const parsed = new URL(url, 'http://local');
  const [, , ...key] = parsed.pathname.split('/');
  const hasKey = key.join('/') !== '';
  const q = parsed.searchParams;
  if (!hasKey) return method === 'GET' ? 'ListObjects' : `${method}Bucket`;
  if (method === 'PUT') return q.has('partNumber') ? 'UploadPart' : 'PutObject';
  if (method === 'POST') return q.has('uploads') ? 'CreateMultipartUpload' : 'CompleteMultipartUpload';
  if (method === 'GET') return 'GetObject';
  if (method === 'HEAD') return 'HeadObject';
  if (method === 'DELETE') return q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
  return method;
}

interface ErrorReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** An error response exactly as the service sends it (JSON protocols, S3's XML). */
export function errorReply(service: AwsService, status: number, code: string, message: string): ErrorReply {
  const requestId = `fault-${Math.random().toString(36).slice(2, 12)}`;
  if (service === 's3') {
    return {
      status,
      headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>${requestId}</RequestId></Error>`,
    };
  }
  if (service === 'dynamodb') {
    const namespace =
      code === 'ThrottlingException' ? 'com.amazon.coral.availability' : 'com.amazonaws.dynamodb.v20120810';
    return {
      status,
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': requestId },
      body: JSON.stringify({ __type: `${namespace}#${code}`, message }),
    };
  }
  // SQS, JSON protocol: the query-compatible code travels in x-amzn-query-error.
  return {
    status,
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amzn-requestid': requestId,
      'x-amzn-query-error': `${code};${status >= 500 ? 'Receiver' : 'Sender'}`,
    },
    body: JSON.stringify({ __type: `com.amazonaws.sqs#${code}`, message }),
  };
}

/** Messages DynamoDB gives with each cancellation reason code. */
const reasonMessages: Record<string, string> = {
  TransactionConflict: 'Transaction is ongoing for the item',
  ConditionalCheckFailed: 'The conditional request failed',
  ThrottlingError: 'Throughput exceeds the current capacity for one or more global secondary indexes.',
  ProvisionedThroughputExceeded:
    'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
};

/** DynamoDB's answer to a cancelled transaction of `items` items: one reason per item. */
export function cancelReply(items: number, code = 'TransactionConflict', item = items - 1): ErrorReply {
  return cancelReplyOf(
    items,
    Array.from({ length: items }, (_, i) => (i === item ? code : 'None')),
  );
}

/** DynamoDB's answer to a cancelled transaction of `items` items whose reasons are `codes`, in order. */
export function cancelReplyOf(items: number, codes: readonly string[]): ErrorReply {
  const reasons = Array.from({ length: items }, (_, i) => {
    const code = codes[i] ?? 'None';
    return code === 'None' ? { Code: 'None' } : { Code: code, Message: reasonMessages[code] ?? code };
  });
  const requestId = `fault-${Math.random().toString(36).slice(2, 12)}`;
  return {
    status: 400,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': requestId },
    body: JSON.stringify({
      __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
      Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`,
      CancellationReasons: reasons,
    }),
  };
}

function throttleReply(service: AwsService, code: string | undefined): ErrorReply {
  if (service === 's3') return errorReply('s3', 503, code ?? 'SlowDown', 'Please reduce your request rate.');
  if (service === 'dynamodb') {
    return errorReply(
      'dynamodb',
      400,
      code ?? 'ProvisionedThroughputExceededException',
      'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
    );
  }
  return errorReply('sqs', 400, code ?? 'ThrottlingException', 'Rate exceeded');
}

function statusReply(service: AwsService, status: 500 | 503): ErrorReply {
  const code =
    service === 's3'
      ? status === 500
        ? 'InternalError'
        : 'ServiceUnavailable'
      : status === 500
        ? 'InternalServerError'
        : 'ServiceUnavailable';
  return errorReply(service, status, code, 'injected server error');
}

const readBody = (req: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const { service } = options;
  const target = new URL(options.target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const random = seededRandom(options.seed ?? 1);
  let rules: { rule: FaultRule; used: number }[] = [];
  const injected = new Map<string, number>();
  const handedBack = new Map<string, number>();
  const requests = new Map<string, number>();
  const bump = (map: Map<string, number>, key: string, n = 1) => map.set(key, (map.get(key) ?? 0) + n);
  const setRules = (next: readonly FaultRule[]) => {
    for (const rule of next) {
      if (!(rule.rate >= 0 && rule.rate <= 1))
        throw new RangeError(`rate must be from 0 to 1, got ${rule.rate}`);
    }
    rules = next.map((rule) => ({ rule, used: 0 }));
  };
  setRules(options.rules ?? []);

  const matches = (rule: FaultRule, operation: string, body: string | undefined) =>
    (rule.operation === undefined ||
      (typeof rule.operation === 'string'
        ? rule.operation === operation
        : rule.operation.includes(operation))) &&
    (rule.bodyIncludes === undefined || (body?.includes(rule.bodyIncludes) ?? false));

  /** Draws for every matching rule (so the draws do not depend on earlier outcomes): latency adds up, the first other fault wins. */
  function choose(operation: string, body: string | undefined): { latencyMs: number; fault?: Fault } {
    let latencyMs = 0;
    let chosen: Fault | undefined;
    let entries: Fault | undefined;
    for (const entry of rules) {
      const { rule } = entry;
      if (!matches(rule, operation, body)) continue;
      // failEntries draws per entry instead, if no other fault takes the request.
      if (rule.fault.kind === 'failEntries') {
        if (!entries && (rule.limit === undefined || entry.used < rule.limit)) entries = rule.fault;
        continue;
      }
      const hit = random() < rule.rate;
      if (!hit || (rule.limit !== undefined && entry.used >= rule.limit)) continue;
      if (rule.fault.kind === 'latency') {
        entry.used += 1;
        latencyMs += rule.fault.ms;
        bump(injected, `${operation}:latency`);
      } else if (!chosen) {
        entry.used += 1;
        chosen = rule.fault;
      }
    }
    return { latencyMs, fault: chosen ?? entries };
  }

  function forward(
    req: IncomingMessage,
    body: Buffer | undefined,
    onResponse: (status: number, headers: IncomingMessage['headers'], payload: Buffer) => void,
    res: ServerResponse,
  ): void {
    const headers = { ...req.headers };
    if (body) headers['content-length'] = String(body.length);
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent },
      (upstreamRes) => {
        if (!body) {
          // Streamed (S3): pass through untouched.
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          upstreamRes.pipe(res);
          return;
        }
        readBody(upstreamRes).then(
          (payload) => onResponse(upstreamRes.statusCode ?? 502, upstreamRes.headers, payload),
          () => res.destroy(),
        );
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    if (body) upstream.end(body);
    else req.pipe(upstream);
  }

  const send = (res: ServerResponse, reply: ErrorReply) => {
    res.writeHead(reply.status, {
      ...reply.headers,
      'content-length': String(Buffer.byteLength(reply.body)),
    });
    res.end(reply.body);
  };

  const passThrough =
    (res: ServerResponse) => (status: number, headers: IncomingMessage['headers'], payload: Buffer) => {
      const out = { ...headers, 'content-length': String(payload.length) };
      delete out['transfer-encoding'];
      res.writeHead(status, out);
      res.end(payload);
    };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    // DynamoDB and SQS bodies are small JSON: buffer them. S3 bodies stream.
    const body = service === 's3' ? undefined : await readBody(req);
    const text = body?.toString('utf8');
    const operation = operationOf(service, method, url, req.headers, text);
    bump(requests, operation);
    const { latencyMs, fault } = choose(operation, text);
    if (latencyMs > 0) await sleep(latencyMs);
    if (!fault) return forward(req, body, passThrough(res), res);
    const count = () => bump(injected, `${operation}:${fault.kind}`);
    switch (fault.kind) {
      case 'throttle':
        count();
        if (!body) req.resume();
        return send(res, throttleReply(service, fault.code));
      case 'status':
        count();
        if (!body) req.resume();
        return send(res, statusReply(service, fault.status));
      case 'drop':
        count();
        if (fault.when === 'after') {
          return forward(req, body, () => res.socket?.destroy(), res);
        }
        req.socket.destroy();
        return;
      case 'unprocessed':
        if (operation === 'BatchWriteItem' && body) return unprocessed(req, res, body, fault);
        return forward(req, body, passThrough(res), res);
      case 'failEntries':
        if (operation === 'SendMessageBatch' && body) return failEntries(req, res, body, fault);
        return forward(req, body, passThrough(res), res);
      case 'cancel': {
        if (service !== 'dynamodb' || operation !== 'TransactWriteItems' || !body) {
          return forward(req, body, passThrough(res), res);
        }
        count();
        const input = JSON.parse(body.toString('utf8')) as { TransactItems?: unknown[] };
        const items = input.TransactItems?.length ?? 1;
        return send(
          res,
          fault.codes ? cancelReplyOf(items, fault.codes) : cancelReply(items, fault.code, fault.item),
        );
      }
      case 'hold':
        count();
        await fault.until.catch(() => undefined);
        return forward(req, body, passThrough(res), res);
      case 'latency':
        return forward(req, body, passThrough(res), res);
    }
  }

  /** Writes part of the batch; the rest comes back in `UnprocessedItems`, as DynamoDB does under load. */
  function unprocessed(
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    fault: Extract<Fault, { kind: 'unprocessed' }>,
  ): void {
    const input = JSON.parse(body.toString('utf8')) as { RequestItems: Record<string, unknown[]> };
    const kept: Record<string, unknown[]> = {};
    const back: Record<string, unknown[]> = {};
    let total = 0;
    for (const [table, items] of Object.entries(input.RequestItems)) {
      const n = items.length;
      // At least one item back; at least one written when there are two or more.
      const returned = Math.min(Math.max(1, Math.round(n * (fault.fraction ?? 0.5))), n > 1 ? n - 1 : n);
      kept[table] = items.slice(0, n - returned);
      back[table] = items.slice(n - returned);
      total += returned;
    }
    bump(injected, 'BatchWriteItem:unprocessed');
    bump(handedBack, 'BatchWriteItem', total);
    const reply = (upstream: Record<string, unknown[]>) => {
      const merged: Record<string, unknown[]> = {};
      for (const table of new Set([...Object.keys(upstream), ...Object.keys(back)])) {
        const items = [...(upstream[table] ?? []), ...(back[table] ?? [])];
        if (items.length > 0) merged[table] = items;
      }
      const out = JSON.stringify({ UnprocessedItems: merged });
      res.writeHead(200, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': String(Buffer.byteLength(out)),
      });
      res.end(out);
    };
    for (const table of Object.keys(kept)) if (kept[table]?.length === 0) delete kept[table];
    if (Object.keys(kept).length === 0) {
      reply({});
      return;
    }
    const forwarded = Buffer.from(JSON.stringify({ ...input, RequestItems: kept }));
    forward(
      req,
      forwarded,
      (status, headers, payload) => {
        if (status !== 200) return passThrough(res)(status, headers, payload);
        const parsed = JSON.parse(payload.toString('utf8')) as {
          UnprocessedItems?: Record<string, unknown[]>;
        };
        reply(parsed.UnprocessedItems ?? {});
      },
      res,
    );
  }

  /** Sends only some entries; the others are reported in `Failed`, as SQS does. */
  function failEntries(
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    fault: Extract<Fault, { kind: 'failEntries' }>,
  ): void {
    const input = JSON.parse(body.toString('utf8')) as { Entries: { Id: string }[] };
    const rule = rules.find((r) => r.rule.fault === fault);
    const failing = new Set<string>();
    for (const entry of input.Entries) {
      if (
        random() < (rule?.rule.rate ?? 0) &&
        (rule?.rule.limit === undefined || rule.used < rule.rule.limit)
      ) {
        failing.add(entry.Id);
        if (rule) rule.used += 1;
      }
    }
    if (failing.size === 0) {
      forward(req, body, passThrough(res), res);
      return;
    }
    bump(injected, 'SendMessageBatch:failEntries');
    bump(handedBack, 'SendMessageBatch', failing.size);
    const senderFault = fault.senderFault ?? false;
    const failed = [...failing].map((Id) => ({
      Id,
      SenderFault: senderFault,
      Code: fault.code ?? (senderFault ? 'InvalidParameterValue' : 'InternalError'),
      Message: 'injected entry failure',
    }));
    const reply = (upstream: { Successful?: unknown[]; Failed?: unknown[] }) => {
      const out = JSON.stringify({
        Successful: upstream.Successful ?? [],
        Failed: [...(upstream.Failed ?? []), ...failed],
      });
      res.writeHead(200, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': String(Buffer.byteLength(out)),
      });
      res.end(out);
    };
    const kept = input.Entries.filter((e) => !failing.has(e.Id));
    if (kept.length === 0) {
      reply({});
      return;
    }
    forward(
      req,
      Buffer.from(JSON.stringify({ ...input, Entries: kept })),
      (status, headers, payload) => {
        if (status !== 200) return passThrough(res)(status, headers, payload);
        reply(JSON.parse(payload.toString('utf8')));
      },
      res,
    );
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  });
  const { endpoint, close } = await listenOnLoopback(server);
  return {
    endpoint,
    service,
    setRules,
    injected: () => Object.fromEntries(injected),
    handedBack: () => Object.fromEntries(handedBack),
    requests: () => Object.fromEntries(requests),
    async stop() {
      await close();
      agent.destroy();
    },
  };
}
