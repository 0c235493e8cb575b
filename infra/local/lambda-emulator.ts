/**
 * The Lambda Invoke API, locally, for asynchronous invocations (`InvocationType: 'Event'`),
 * which the API uses to start a campaign's send. The SDK reaches it through
 * `AWS_ENDPOINT_URL_LAMBDA`; it answers 202 at once and hands the payload to the
 * runtime's asynchronous invoker of the named function.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './loopback.ts';

export interface LambdaEmulator {
  readonly endpoint: string;
  stop(): Promise<void>;
}

export async function startLambdaEmulator(options: {
  /** Queues an asynchronous invocation; false when no such function exists. */
  invokeAsync: (functionNameOrArn: string, payload: unknown) => boolean;
}): Promise<LambdaEmulator> {
  const server = createServer((req, res) => {
    handle(req, res).catch(() => send(res, 500, { Message: 'internal error' }, 'ServiceException'));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(url.pathname);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== 'POST' || !match) {
      return send(
        res,
        404,
        { Message: `unsupported operation ${req.method} ${url.pathname}` },
        'ResourceNotFoundException',
      );
    }
    if (req.headers['x-amz-invocation-type'] !== 'Event') {
      return send(
        res,
        400,
        {
          Message: 'The local Lambda emulator supports asynchronous invocations (InvocationType Event) only.',
        },
        'InvalidParameterValueException',
      );
    }
    const name = decodeURIComponent(match[1] as string);
    let payload: unknown;
    try {
      payload = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
    } catch {
      return send(
        res,
        400,
        { Message: 'Could not parse request body into json' },
        'InvalidRequestContentException',
      );
    }
    let found: boolean;
    try {
      found = options.invokeAsync(name, payload);
    } catch (error) {
      return send(res, 500, { Message: (error as Error).message }, 'ServiceException');
    }
    if (!found) {
      return send(res, 404, { Message: `Function not found: ${name}` }, 'ResourceNotFoundException');
    }
    res.writeHead(202);
    res.end();
  }

  const { endpoint, close } = await listenOnLoopback(server);
  return { endpoint, stop: close };
}

function send(res: ServerResponse, status: number, body: unknown, errorType: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-ErrorType': errorType });
  res.end(JSON.stringify(body));
}
