import { readFileSync } from 'node:fs';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import {
  ERROR_CODES,
  InvalidInputError,
  NoSigningSecretError,
  PublicError,
  TemplateContentFrozenError,
  TemplateNotApprovedError,
} from '#shared/errors.ts';
import { errorResponses } from '#shared/http/middleware.ts';
import { logger } from '#shared/observability.ts';

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

  it('answers a public error with its status, code, message and details', async () => {
    const result = await failingWith(new InvalidInputError('name is too long', { field: 'name' }))(
      {} as APIGatewayProxyEvent,
      context,
    );
    expect(result.statusCode).toBe(400);
    expect(result.headers?.['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(result.body)).toEqual({
      error: { code: 'ERR_BAD_REQUEST', message: 'name is too long', details: { field: 'name' } },
    });
  });

  it('answers each public code with the status the error table of docs/api.md gives it', async () => {
    const page = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    const documented = new Map(
      [...page.matchAll(/^\| `(ERR_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]),
    );
    for (const code of ERROR_CODES) {
      const result = await failingWith(new PublicError(code, 'm'))({} as APIGatewayProxyEvent, context);
      expect({ code, status: result.statusCode }).toEqual({ code, status: documented.get(code) });
    }
  });

  it('names the route that fixes an error in the answer, and only there', async () => {
    const answer = async (failure: PublicError) =>
      JSON.parse((await failingWith(failure)({} as APIGatewayProxyEvent, context)).body).error.message;
    const notApproved = new TemplateNotApprovedError('tpl_1', 'draft');
    expect(notApproved.message).toBe("Template 'tpl_1' is draft; approve it before using it.");
    expect(await answer(notApproved)).toBe(
      `Template 'tpl_1' is draft; approve it (PUT /api/templates/tpl_1 with {"status":"approved"}) before using it.`,
    );
    const frozen = new TemplateContentFrozenError('tpl_1', 'approved', ['title', 'body']);
    expect(frozen.message).toBe(
      "Template 'tpl_1' is approved: its title, body can no longer change. Create a new template with the new content instead.",
    );
    expect(await answer(frozen)).toBe(
      "Template 'tpl_1' is approved: its title, body can no longer change. Create a new template (POST /api/templates) with the new content instead.",
    );
    const noSecret = new NoSigningSecretError();
    expect(noSecret.message).toBe(
      'This app has no webhook destination, so it has no signing secret to rotate: set one first.',
    );
    expect(await answer(noSecret)).toBe(
      'This app has no webhook destination, so it has no signing secret to rotate: set one with PUT /api/destination first.',
    );
  });
});
