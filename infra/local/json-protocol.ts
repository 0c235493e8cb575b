/**
 * A server for the AWS JSON 1.1 protocol (KMS, Secrets Manager), on loopback: every call
 * is `POST /` with `X-Amz-Target: <prefix>.<Operation>` and a JSON body, answered with JSON
 * or with an error the SDK maps to its exception class (`__type` in the body and
 * `x-amzn-ErrorType`). Signatures are not checked: like the other emulators, any
 * credentials do.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './loopback.ts';

/** An error answered as the service would: its exception name, message and status. */
export class ServiceError extends Error {
  readonly type: string;
  readonly status: number;
  constructor(type: string, message: string, status = 400) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

export type Operation = (input: Record<string, unknown>) => unknown | Promise<unknown>;

/** Largest request body read; both services take far less (KMS: 4 KiB of plaintext, Secrets Manager: 64 KiB). */
const MAX_BODY_BYTES = 1024 * 1024;

export async function startJsonProtocolServer(options: {
  /** `TrentService` (KMS), `secretsmanager`. */
  targetPrefix: string;
  operations: Record<string, Operation>;
}): Promise<{ endpoint: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof ServiceError)
        return send(res, error.status, error.type, { message: error.message });
      send(res, 500, 'InternalFailure', { message: 'internal error of the local emulator' });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) throw new ServiceError('ValidationException', 'request body too large');
      chunks.push(chunk as Buffer);
    }
    const target = String(req.headers['x-amz-target'] ?? '');
    const [prefix, name] = target.split('.');
    const operation = prefix === options.targetPrefix && name ? options.operations[name] : undefined;
    if (req.method !== 'POST' || !operation) {
      throw new ServiceError(
        'UnknownOperationException',
        `the local emulator does not support ${req.method} ${target || '(no X-Amz-Target)'}`,
      );
    }
    let input: unknown;
    try {
      input = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
    } catch {
      throw new ServiceError('SerializationException', 'the request body is not JSON');
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new ServiceError('SerializationException', 'the request body is not a JSON object');
    }
    const output = await operation(input as Record<string, unknown>);
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify(output ?? {}));
  }

  return listenOnLoopback(server);
}

function send(res: ServerResponse, status: number, type: string, body: Record<string, unknown>): void {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-ErrorType': type });
  res.end(JSON.stringify({ __type: type, ...body }));
}

/** A string field of `input`, or a ValidationException naming it. */
export function requiredString(input: Record<string, unknown>, field: string): string {
  const value = input[field];
  if (typeof value !== 'string' || value === '') {
    throw new ServiceError('ValidationException', `1 validation error detected: ${field} must not be null`);
  }
  return value;
}

/** An optional string field of `input`. */
export function optionalString(input: Record<string, unknown>, field: string): string | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw new ServiceError('ValidationException', `1 validation error detected: ${field} must be a string`);
  }
  return value;
}

/** A blob field (base64 in JSON) of `input`, decoded. */
export function blob(input: Record<string, unknown>, field: string): Buffer {
  const value = requiredString(input, field);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length === 0 || bytes.toString('base64').replace(/=+$/, '') !== value.replace(/=+$/, '')) {
    throw new ServiceError('ValidationException', `1 validation error detected: ${field} is not base64`);
  }
  return bytes;
}
