/**
 * Tracing, end to end, in child processes (test/support/tracing/child.ts): the X-Ray SDK
 * patches process-wide state, so it never loads in the test process.
 *
 * As in Lambda (its variables, the stack's function environment, a daemon on a local UDP
 * port that records every segment): the SDK clients are traced, and no segment holds the
 * handler's answer, its error message or what DynamoDB returned. As in the local runtime
 * (its defaults, even where AWS_EXECUTION_ENV is set, as on ECS): nothing is traced and
 * nothing reaches the daemon or the output.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functionEnvironment } from '#infra/constructs/function.ts';
import { handlerDefaults } from '#infra/local/runtime.ts';

const MARK = 'TRACE-MARK-7Q2Z';

/** Every datagram the "daemon" received, parsed (each is a header line, then the segment). */
const segments: { raw: string; doc: Record<string, any> }[] = [];
const daemon = createSocket('udp4');
daemon.on('message', (message) => {
  const raw = message.toString('utf8');
  segments.push({ raw, doc: JSON.parse(raw.slice(raw.indexOf('\n') + 1)) });
});

// DynamoDB, answering every GetItem with an item that holds the mark.
const dynamodb = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
    res.end(JSON.stringify({ Item: { pk: { S: 'p' }, sk: { S: 's' }, name: { S: MARK } } }));
  });
});

let daemonAddress = '';
let dynamodbUrl = '';
beforeAll(async () => {
  daemon.bind(0, '127.0.0.1');
  await once(daemon, 'listening');
  daemonAddress = `127.0.0.1:${(daemon.address() as AddressInfo).port}`;
  dynamodb.listen(0, '127.0.0.1');
  await once(dynamodb, 'listening');
  dynamodbUrl = `http://127.0.0.1:${(dynamodb.address() as AddressInfo).port}`;
});

afterAll(async () => {
  daemon.close();
  await new Promise((resolve) => dynamodb.close(resolve));
});

interface ChildResult {
  traced: Record<string, boolean>;
  answered: boolean;
  failed: string;
  output: string;
}

/** Runs the child with only `env` (and what it needs to load); resolves once it has exited. */
async function runChild(env: Record<string, string>): Promise<ChildResult> {
  const child = spawn(process.execPath, ['test/support/tracing/child.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL_DYNAMODB: dynamodbUrl,
      AWS_XRAY_DAEMON_ADDRESS: daemonAddress,
      TABLE_NAME: 'table',
      BUCKET_NAME: 'bucket',
      DELIVERY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/queue',
      SCHEDULE_GROUP_NAME: 'default',
      SCHEDULER_ROLE_ARN: 'arn:aws:iam::000000000000:role/scheduler',
      SEND_FUNCTION_ARN: 'arn:aws:lambda:us-east-1:000000000000:function:send',
      TRACE_TEST_MARK: MARK,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += String(d);
  });
  child.stderr.on('data', (d) => {
    stderr += String(d);
  });
  const [code] = await once(child, 'exit');
  expect(code, stderr).toBe(0);
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  const result = JSON.parse(lines.pop() ?? '{}') as Omit<ChildResult, 'output'>;
  return { ...result, output: [...lines, stderr].join('\n') };
}

const subsegments = (doc: Record<string, any>): Record<string, any>[] => [
  doc,
  ...(doc.subsegments ?? []).flatMap(subsegments),
];
const ofTrace = (root: string) => segments.filter(({ doc }) => doc.trace_id === root);
const named = (root: string, name: string) =>
  ofTrace(root)
    .flatMap(({ doc }) => subsegments(doc))
    .filter((s) => s.name === name);

/** Runs the child as Lambda runs a function with `env`, under its own trace. */
async function inLambda(env: Record<string, string>, root: string) {
  return runChild({
    ...env,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    AWS_LAMBDA_FUNCTION_NAME: 'answering',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    LAMBDA_TASK_ROOT: '/var/task',
    _HANDLER: 'index.handler',
    _X_AMZN_TRACE_ID: `Root=${root};Parent=53995c3f42cd8ad8;Sampled=1`,
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
}

// Each test starts a Node process that loads the SDK clients: seconds on a busy machine.
describe('tracing', { timeout: 60_000 }, () => {
  // First: anything it sent would reach the daemon before what the Lambda-like runs send.
  it('is off in the local runtime, even where AWS_EXECUTION_ENV is set: nothing traced, sent or printed', async () => {
    const result = await runChild({
      ...handlerDefaults,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      AWS_EXECUTION_ENV: 'AWS_ECS_FARGATE',
    });
    expect(result.answered).toBe(true);
    expect(Object.values(result.traced)).not.toContain(true);
    expect(result.output).toBe('');
  });

  it('traces the SDK clients in Lambda, and no segment holds an answer, an error message or a read item', async () => {
    const root = '1-5759e988-bd862e3fe1be46a994272793';
    const result = await inLambda({ ...functionEnvironment }, root);
    expect(result.answered).toBe(true);
    expect(result.failed).toContain(MARK);
    // Every client that sends requests; the presigning one only signs.
    expect(result.traced).toEqual({
      dynamodb: true,
      documents: true,
      s3: true,
      presigningS3: false,
      sqs: true,
      lambda: true,
      scheduler: true,
    });

    // Both invocations' handler subsegments, and the DynamoDB call under the first.
    await expect.poll(() => named(root, '## index.handler').length, { timeout: 10_000 }).toBe(2);
    await expect.poll(() => named(root, 'DynamoDB').length, { timeout: 10_000 }).toBe(1);
    expect(named(root, 'DynamoDB')[0]).toMatchObject({ namespace: 'aws', aws: { operation: 'GetItem' } });
    const [answered, failed] = named(root, '## index.handler');
    expect(answered?.annotations).toMatchObject({ ColdStart: true, Service: 'csv-campaigns' });
    expect(answered?.metadata).toBeUndefined();
    // The failure is flagged, without its message or stack.
    expect(failed?.error).toBe(true);
    expect(failed?.cause).toBeUndefined();

    // Nothing from the local-runtime run before it.
    expect(segments.every(({ doc }) => doc.trace_id === root)).toBe(true);
    expect(segments.filter(({ raw }) => raw.includes(MARK)).map(({ raw }) => raw)).toEqual([]);
    expect(result.output).not.toMatch(/segment|x-?ray/i);
  });

  it('keeps the answer out of the trace by the stack alone, without POWERTOOLS_TRACER_CAPTURE_RESPONSE', async () => {
    const root = '1-5759e988-00000000000000000000000a';
    const { POWERTOOLS_TRACER_CAPTURE_RESPONSE: _, ...env } = functionEnvironment;
    expect((await inLambda(env, root)).answered).toBe(true);
    await expect.poll(() => named(root, '## index.handler').length, { timeout: 10_000 }).toBe(2);
    expect(named(root, '## index.handler')[0]?.metadata).toBeUndefined();
    expect(ofTrace(root).filter(({ raw }) => raw.includes(MARK))).toEqual([]);
  });
});
