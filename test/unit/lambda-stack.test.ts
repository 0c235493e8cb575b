/**
 * The shared middleware stack (shared/lambda.ts), run in this process as Lambda would
 * run it: an on-demand function with metrics on and event logging asked for. Every log
 * line and EMF document the Powertools logger and metrics write is captured from stdout.
 */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { lambdaContext } from '#infra/local/lambda-context.ts';
import { lambdaStack, usesLambdaStack } from '#shared/lambda.ts';
import { logger, metrics } from '#shared/observability.ts';

const written: string[] = [];
const realWrite = process.stdout.write;

beforeAll(async () => {
  // Read when the logger and metrics are first used (shared/observability.ts): set them first.
  vi.stubEnv('AWS_LAMBDA_INITIALIZATION_TYPE', 'on-demand');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  vi.stubEnv('POWERTOOLS_DEV', '');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
  vi.stubEnv('POWERTOOLS_LOGGER_LOG_EVENT', 'true');
  process.stdout.write = ((chunk: unknown) => {
    written.push(
      ...String(chunk)
        .split('\n')
        .filter((l) => l.trim() !== ''),
    );
    return true;
  }) as typeof process.stdout.write;
});

afterAll(() => {
  process.stdout.write = realWrite;
});

beforeEach(() => {
  written.length = 0;
});

const json = () => written.map((l) => JSON.parse(l) as Record<string, any>);
const logLines = () => json().filter((l) => typeof l.message === 'string');
const emf = () => json().filter((l) => l._aws !== undefined);
const metricNames = (doc: Record<string, any>): string[] =>
  doc._aws.CloudWatchMetrics.flatMap((m: { Metrics: { Name: string }[] }) => m.Metrics.map((x) => x.Name));

describe('lambdaStack', () => {
  // First: the cold start of this process is the first invocation of any handler.
  it('reports one ColdStart metric and cold_start log key per process, on the first invocation', async () => {
    const a = lambdaStack().handler(async () => logger.info('in a'));
    const b = lambdaStack().handler(async () => logger.info('in b'));
    const first = lambdaContext('function-a', 10);
    await a({}, first);
    await a({}, lambdaContext('function-a', 10));
    await b({}, lambdaContext('function-b', 10));

    const coldStarts = emf().filter((doc) => metricNames(doc).includes('ColdStart'));
    expect(coldStarts).toHaveLength(1);
    expect(coldStarts[0]).toMatchObject({ function_name: 'function-a', ColdStart: 1 });
    expect(logLines().map((l) => l.cold_start)).toEqual([true, false, false]);
  });

  it('puts the Lambda context in every log line and resets the keys of the previous invocation', async () => {
    const handler = lambdaStack<{ campaignId?: string }, void>().handler(async (event) => {
      logger.info('working');
      if (event.campaignId) logger.appendKeys({ campaignId: event.campaignId });
    });
    const one = lambdaContext('function-a', 10);
    const two = lambdaContext('function-a', 10);
    await handler({ campaignId: 'cmp_1' }, one);
    await handler({}, two);

    const lines = logLines().filter((l) => l.message === 'working');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ function_name: 'function-a', function_request_id: one.awsRequestId });
    expect(lines[1]).toMatchObject({ function_request_id: two.awsRequestId });
    expect(lines[1]).not.toHaveProperty('campaignId');
  });

  it('never logs the event, even with POWERTOOLS_LOGGER_LOG_EVENT=true', async () => {
    const handler = lambdaStack<{ headers: Record<string, string> }, string>().handler(async () => 'ok');
    await handler({ headers: { apiKey: 'ck_secret-in-event' } }, lambdaContext('function-a', 10));
    // Not vacuous: a line logged by the same invocation is captured.
    const logged = lambdaStack<{ headers: Record<string, string> }, string>().handler(async () => {
      logger.info('captured');
      return 'ok';
    });
    await logged({ headers: { apiKey: 'ck_secret-in-event' } }, lambdaContext('function-a', 10));
    expect(logLines().some((l) => l.message === 'captured')).toBe(true);
    expect(written.filter((l) => l.includes('ck_secret-in-event'))).toEqual([]);
  });

  it('publishes the stored metrics when the invocation ends, and when it fails', async () => {
    const handler = lambdaStack<{ fail: boolean }, string>().handler(async (event) => {
      metrics.addMetric('unitTestCount', 'Count', 2);
      if (event.fail) throw new Error('boom');
      return 'done';
    });
    expect(await handler({ fail: false }, lambdaContext('function-a', 10))).toBe('done');
    await expect(handler({ fail: true }, lambdaContext('function-a', 10))).rejects.toThrow('boom');

    const published = emf().filter((doc) => metricNames(doc).includes('unitTestCount'));
    expect(published.map((doc) => doc.unitTestCount)).toEqual([2, 2]);
    expect(published[0]).toMatchObject({ service: 'csv-campaigns' });
  });

  it('types and passes through an SQS consumer answer, and marks what it builds', async () => {
    const consumer = lambdaStack<SQSEvent, SQSBatchResponse>().handler(async (event) => ({
      batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })),
    }));
    const answer = await consumer(
      { Records: [{ messageId: 'm-1' } as SQSEvent['Records'][number]] },
      lambdaContext('deliverBatch', 10),
    );
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-1' }] });
    expect(usesLambdaStack(consumer)).toBe(true);
    expect(usesLambdaStack(async () => undefined)).toBe(false);
  });
});
