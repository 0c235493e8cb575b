/**
 * The local stand-in for API Gateway: turns each HTTP request into the REST proxy
 * event API Gateway builds (headers, multi-value headers, path and query parameters,
 * base64 bodies for binary media types), invokes the route's function, and writes
 * its result back as the HTTP response.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { type ApiFunctionName, binaryMediaTypes, matchRoute } from '../routes.ts';
import { lambdaContext } from './lambda-context.ts';

/** API Gateway's payload limit. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

export type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

export interface HttpFront {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface HttpFrontOptions {
  port: number;
  host?: string;
  /** Resolves an API function by name (loaded on first use). */
  handlerFor: (name: ApiFunctionName) => Promise<ApiHandler>;
  /** Serves requests outside `/api` (the dashboard); 404 when absent or when it returns false. */
  fallback?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
}

export async function startHttpFront(options: HttpFrontOptions): Promise<HttpFront> {
  const server: Server = createServer((req, res) => {
    serve(req, res, options).catch((error: unknown) => {
      if (!res.headersSent) {
        sendJson(
          res,
          500,
          errorBody('ERR_OPERATION_FAILED', 'The local API front failed; see the runtime log.'),
        );
      } else {
        res.destroy(error as Error);
      }
    });
  });
  server.keepAliveTimeout = 5000;
  server.on('clientError', answerClientError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      }),
  };
}

async function serve(req: IncomingMessage, res: ServerResponse, options: HttpFrontOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://local');
  const method = req.method ?? 'GET';
  if (!url.pathname.startsWith('/api/') && url.pathname !== '/api') {
    if (options.fallback && (await options.fallback(req, res))) return;
    sendJson(
      res,
      404,
      errorBody('ERR_NOT_FOUND', `No route for ${method} ${url.pathname}; the API is under /api.`),
    );
    return;
  }
  const match = matchRoute(method, url.pathname);
  if (!match.route) {
    req.resume();
    if (match.pathExists) {
      sendJson(
        res,
        405,
        errorBody('ERR_METHOD_NOT_ALLOWED', `${method} is not supported on ${url.pathname}.`),
      );
    } else {
      sendJson(res, 404, errorBody('ERR_NOT_FOUND', `No route for ${method} ${url.pathname}.`));
    }
    return;
  }
  const body = await readBody(req);
  if (body === undefined) {
    sendJson(
      res,
      413,
      errorBody(
        'ERR_PAYLOAD_TOO_LARGE',
        `The request body is over API Gateway's ${MAX_REQUEST_BYTES} bytes; upload large CSV files with POST /api/campaigns/{id}/upload-url.`,
      ),
    );
    return;
  }
  const event = toProxyEvent(req, url, match.route.path, match.pathParameters, body);
  const handler = await options.handlerFor(match.route.function);
  const context = lambdaContext(`${match.route.function}-api`, 29);
  const result = await handler(event, context);
  writeResult(res, result);
}

/** The body, or undefined once it passes API Gateway's limit. */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_REQUEST_BYTES) {
    req.resume();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) {
      req.resume();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The REST API (v1) proxy event API Gateway would send for this request. */
export function toProxyEvent(
  req: IncomingMessage,
  url: URL,
  resource: string,
  pathParameters: Record<string, string>,
  body: Buffer,
): APIGatewayProxyEvent {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] as string;
    const value = req.rawHeaders[i + 1] as string;
    headers[name] = value;
    multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
  }
  const queryStringParameters: Record<string, string> = {};
  const multiValueQueryStringParameters: Record<string, string[]> = {};
  for (const [key, value] of url.searchParams) {
    queryStringParameters[key] = value;
    multiValueQueryStringParameters[key] = [...(multiValueQueryStringParameters[key] ?? []), value];
  }
  const contentType = (req.headers['content-type'] ?? '').toLowerCase();
  const binary = binaryMediaTypes.some((type) => contentType.startsWith(type));
  const hasQuery = Object.keys(queryStringParameters).length > 0;
  const now = new Date();
  return {
    resource,
    path: url.pathname,
    httpMethod: req.method ?? 'GET',
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? queryStringParameters : null,
    multiValueQueryStringParameters: hasQuery ? multiValueQueryStringParameters : null,
    pathParameters: Object.keys(pathParameters).length > 0 ? pathParameters : null,
    stageVariables: null,
    body: body.length === 0 ? null : binary ? body.toString('base64') : body.toString('utf8'),
    isBase64Encoded: binary && body.length > 0,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: null,
      protocol: `HTTP/${req.httpVersion}`,
      httpMethod: req.method ?? 'GET',
      path: url.pathname,
      stage: 'local',
      requestId: randomUUID(),
      requestTimeEpoch: now.getTime(),
      resourceId: 'local',
      resourcePath: resource,
      identity: {
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: req.headers['user-agent'] ?? null,
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        user: null,
        userArn: null,
      },
    },
  };
}

function writeResult(res: ServerResponse, result: APIGatewayProxyResult): void {
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, String(value));
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {}))
    res.setHeader(name, values.map(String));
  res.statusCode = result.statusCode;
  res.end(result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body);
}

/**
 * A request Node's HTTP parser refuses: a 400 that says what to fix, instead of Node's
 * bare `400 Bad Request`. The usual causes are a body cut short of its Content-Length
 * (the client closed its side early) and bytes after a body that do not start a request
 * (a Content-Length smaller than the body sent).
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const message =
    error.code === 'HPE_INVALID_EOF_STATE'
      ? 'The connection was closed before the request body reached the length its Content-Length header announced; send the whole body, with a Content-Length equal to its size in bytes.'
      : `The request is not valid HTTP/1.1 (${error.code ?? 'unreadable'}); if it followed another request on this connection, that request's Content-Length was smaller than its body: send a Content-Length equal to the body's size in bytes.`;
  const body = JSON.stringify(errorBody('ERR_BAD_REQUEST', message));
  socket.end(
    `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function errorBody(code: string, message: string) {
  return { error: { code, message, details: {} } };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}
