import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { BadRequestError } from '#shared/errors.ts';

// The middleware module loads the app store, which reads TABLE_NAME when it loads; nothing is called.
let errorResponses: typeof import('#shared/http/middleware.ts').errorResponses;
let logger: typeof import('#shared/observability.ts').logger;
beforeAll(async () => {
  vi.stubEnv('TABLE_NAME', 'unused');
  ({ errorResponses } = await import('#shared/http/middleware.ts'));
  ({ logger } = await import('#shared/observability.ts'));
});

const context = { awsRequestId: 'req-123' } as Context;

function failingWith(failure: Error) {
  return middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
    .use(errorResponses())
    .handler(async () => {
      throw failure;
    });
}

describe('error responses', () => {
  it('turns an unexpected failure into a generic 500 with the requestId, logging the details', async () => {
    const logged = vi.spyOn(logger, 'error').mockImplementation(() => undefined);
    const result = await failingWith(new Error('connect ECONNREFUSED 10.0.0.7:8000'))(
      {} as APIGatewayProxyEvent,
      context,
    );
    expect(result.statusCode).toBe(500);
    expect(JSON.parse(result.body)).toEqual({
      error: {
        code: 'ERR_OPERATION_FAILED',
        message: 'The operation failed unexpectedly. Try again; if it keeps failing, report the requestId.',
        details: { requestId: 'req-123' },
      },
    });
    expect(result.body).not.toContain('ECONNREFUSED');
    expect(logged).toHaveBeenCalledWith('unhandled error', expect.objectContaining({ requestId: 'req-123' }));
  });

  it('answers an HttpError with its status, code, message and details', async () => {
    const result = await failingWith(new BadRequestError('name is too long', { field: 'name' }))(
      {} as APIGatewayProxyEvent,
      context,
    );
    expect(result.statusCode).toBe(400);
    expect(result.headers?.['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(result.body)).toEqual({
      error: { code: 'ERR_BAD_REQUEST', message: 'name is too long', details: { field: 'name' } },
    });
  });
});
