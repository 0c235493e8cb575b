/**
 * The CLI's HTTP client: the API's conventions (appId/apiKey headers, `{ data }` bodies,
 * `{ error: { code, message } }` errors, cursor paging) over `fetch`, and one streaming
 * PUT/POST over node:http(s) for uploads, so that the bytes sent can be counted.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type {
  DestinationTestResult,
  DestinationView as DestinationViewOfApi,
} from '#shared/domain/destinations.ts';
import type { VariableSchema } from '#shared/domain/model.ts';

export interface Connection {
  /** Where the API listens, without `/api` (e.g. `http://127.0.0.1:3000`). */
  endpoint: string;
  appId: string;
  apiKey: string;
}

/** An error answer of the API (its code and message), or a failure to reach it. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** `http://host:3000/api/` and `http://host:3000` both name the same API. */
export function normalizeEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ApiError(
      0,
      'ERR_USAGE',
      `--endpoint '${endpoint}' is not a URL; pass e.g. http://127.0.0.1:3000`,
    );
  }
  return url.href.replace(/\/+$/, '').replace(/\/api$/, '');
}

function unreachable(endpoint: string, error: unknown): ApiError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (error as Error).message;
  return new ApiError(
    0,
    'ERR_UNREACHABLE',
    `Cannot reach the API at ${endpoint} (${why}); is \`npm start\` running? Pass --endpoint or set CAMPAIGNS_ENDPOINT.`,
  );
}

/** Turns a non-2xx answer into an `ApiError` carrying the API's own code and message. */
function errorOf(status: number, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string; details?: unknown } };
    if (body.error?.message) {
      return new ApiError(
        status,
        body.error.code ?? `HTTP_${status}`,
        body.error.message,
        body.error.details,
      );
    }
  } catch {
    // Not JSON: fall through.
  }
  return new ApiError(status, `HTTP_${status}`, `HTTP ${status}: ${text.slice(0, 200) || 'no body'}`);
}

/** The views the CLI reads (docs/api.md); the API may add fields. */
export interface TemplateView {
  id: string;
  status: string;
  name: string;
  title?: string | null;
  body: string;
  variableSchema: VariableSchema;
}

export type { CampaignProgress as CampaignProgressView } from '#shared/domain/campaign-progress.ts';
/** A campaign and a recipient as the API answers them: its own view types, not copies. */
export type { CampaignView } from '#shared/domain/campaigns.ts';
export type { RecipientView } from '#shared/http/views.ts';

export interface SendView {
  id: string;
  status: string;
  scheduledAt: string | null;
  updatedAt: string;
}

/** `GET` and `PUT /api/destination`: where the app's messages go. */
export type DestinationView = DestinationViewOfApi & {
  /** Only in the answer that created the secret (the app's first webhook `PUT`). */
  signingSecret?: string;
};

/** `POST /api/destination/test`: the receiver's answer to one signed `test` event. */
export type DestinationTestView = DestinationTestResult;

export interface Page<T> {
  data: T[];
  meta: { next: string | null };
}

export class ApiClient {
  readonly connection: Connection;
  constructor(connection: Connection) {
    this.connection = { ...connection, endpoint: normalizeEndpoint(connection.endpoint) };
  }

  private headers(): Record<string, string> {
    return { appId: this.connection.appId, apiKey: this.connection.apiKey };
  }

  /** One call; resolves to the whole JSON body (`{ data }` or `{ data, meta }`) and the status. */
  async call<T = unknown>(
    method: string,
    path: string,
    json?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<{ status: number; body: T }> {
    const headers = { ...this.headers(), ...extraHeaders };
    if (json !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.connection.endpoint}${path}`, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
      });
    } catch (error) {
      throw unreachable(this.connection.endpoint, error);
    }
    const text = await res.text();
    if (!res.ok) throw errorOf(res.status, text);
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /** The `data` of one call. */
  async data<T>(method: string, path: string, json?: unknown, headers?: Record<string, string>): Promise<T> {
    return (await this.call<{ data: T }>(method, path, json, headers)).body.data;
  }

  /** Every item of a list, page after page (100 a page). */
  async all<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | null = null;
    do {
      const params = new URLSearchParams({ limit: '100' });
      for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, v);
      if (cursor) params.set('cursor', cursor);
      const page: Page<T> = (await this.call<Page<T>>('GET', `${path}?${params}`)).body;
      items.push(...page.data);
      cursor = page.meta?.next ?? null;
    } while (cursor);
    return items;
  }

  /** A request with a streamed body of known length, to the API (with credentials) or a presigned URL. */
  send(
    method: string,
    url: string,
    body: AsyncIterable<Uint8Array>,
    options: {
      length: number;
      headers?: Record<string, string>;
      withCredentials?: boolean;
      /** Bytes of the body written so far. */
      onProgress?: (sent: number) => void;
    },
  ): Promise<{ status: number; text: string }> {
    const target = new URL(url);
    const headers: Record<string, string> = {
      ...(options.withCredentials ? this.headers() : {}),
      ...options.headers,
      'content-length': String(options.length),
    };
    const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(target, { method, headers }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      });
      req.on('error', (error) => reject(unreachable(target.origin, { cause: error })));
      (async () => {
        let sent = 0;
        for await (const chunk of body) {
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
          sent += chunk.length;
          options.onProgress?.(sent);
        }
        req.end();
      })().catch((error: unknown) => {
        req.destroy(error as Error);
        reject(error);
      });
    });
  }

  /**
   * One GET of the API whose answer is not necessarily JSON (a CSV export): the response,
   * its body unread, when it is a 2xx; an `ApiError` otherwise.
   */
  async fetchRaw(path: string): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.connection.endpoint}${path}`, { headers: this.headers() });
    } catch (error) {
      throw unreachable(this.connection.endpoint, error);
    }
    if (!res.ok) throw errorOf(res.status, await res.text());
    return res;
  }

  /** `send` to the API; an error answer becomes an `ApiError`. */
  async sendToApi<T>(
    method: string,
    path: string,
    body: AsyncIterable<Uint8Array>,
    options: { length: number; headers: Record<string, string>; onProgress?: (sent: number) => void },
  ): Promise<{ status: number; body: T }> {
    const { status, text } = await this.send(method, `${this.connection.endpoint}${path}`, body, {
      ...options,
      withCredentials: true,
    });
    if (status < 200 || status >= 300) throw errorOf(status, text);
    return { status, body: JSON.parse(text) as T };
  }
}
