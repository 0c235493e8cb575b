/**
 * Every Lambda entry in functions/ exports a handler built by the shared stack
 * (shared/lambda.ts): a new function without it, or one that wraps its handler in
 * something else, fails here.
 */
import { readdirSync } from 'node:fs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { functions } from '#infra/functions.ts';
import { usesLambdaStack } from '#shared/lambda.ts';

const functionsDir = new URL('../../functions/', import.meta.url);
const entries = readdirSync(functionsDir)
  .filter((f) => f.endsWith('.ts'))
  .sort();

/**
 * Entries not on the stack yet, each checked to still be without it: once one is
 * wrapped, this test says to take it off the list.
 */
const pending = new Set<string>();

beforeAll(() => {
  // What the modules read when they load; they create clients but call nothing.
  for (const [name, value] of Object.entries({
    TABLE_NAME: 'unused',
    BUCKET_NAME: 'unused',
    DELIVERY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/unused',
    SEND_FUNCTION_ARN: 'arn:aws:lambda:us-east-1:000000000000:function:unused',
    EXPORT_FUNCTION_ARN: 'arn:aws:lambda:us-east-1:000000000000:function:unused',
    SCHEDULE_GROUP_NAME: 'unused',
    SCHEDULER_ROLE_ARN: 'arn:aws:iam::000000000000:role/unused',
    SECRETS_KEY_ID: 'alias/unused',
  })) {
    vi.stubEnv(name, value);
  }
  vi.stubEnv('AWS_REGION', process.env.AWS_REGION ?? 'us-east-1');
});

// Loading a function loads the SDK and the store: seconds on a busy machine.
describe('function entries', { timeout: 30_000 }, () => {
  it('are the entries the stack deploys, so none escapes this check', () => {
    expect(entries.map((f) => `functions/${f}`)).toEqual(
      Object.values(functions)
        .map((f) => f.entry)
        .sort(),
    );
  });

  it.each(entries)('%s exports a handler built by lambdaStack', async (file) => {
    const module = (await import(new URL(file, functionsDir).href)) as { handler?: unknown };
    expect(typeof module.handler).toBe('function');
    if (pending.has(file)) {
      expect(
        usesLambdaStack(module.handler),
        `${file} is on the stack now: take it off the pending list`,
      ).toBe(false);
    } else {
      expect(usesLambdaStack(module.handler)).toBe(true);
    }
  });
});
