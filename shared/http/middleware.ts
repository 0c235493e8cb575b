/**
 * The cross-cutting middleware of every API function: error mapping (the only place
 * an error gets an HTTP status and becomes a response) and authentication from the
 * `appId` / `apiKey` headers.
 */
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { APP_ID_PATTERN, apiKeyMatches, MAX_API_KEY_LENGTH } from '#shared/domain/api-keys.ts';
import {
  type ErrorCode,
  NoSigningSecretError,
  PublicError,
  TemplateContentFrozenError,
  TemplateNotApprovedError,
  UnauthorizedError,
} from '#shared/errors.ts';
import { logger } from '#shared/observability.ts';
import { findApp } from '#shared/store/apps.ts';
import { createAuthCache } from './auth-cache.ts';
import { header } from './request.ts';
import { error } from './responses.ts';

/** The Lambda context, with the authenticated app. */
export interface ApiContext extends Context {
  appId: string;
}

/** The HTTP status of each public code (docs/api.md, Error codes): the one place an error gets one. */
const STATUS: Readonly<Record<ErrorCode, number>> = {
  ERR_BAD_REQUEST: 400,
  ERR_UNAUTHORIZED: 401,
  ERR_NOT_FOUND: 404,
  ERR_METHOD_NOT_ALLOWED: 405,
  ERR_CONFLICT: 409,
  ERR_PAYLOAD_TOO_LARGE: 413,
  ERR_TEMPLATE_NOT_APPROVED: 400,
  ERR_INVALID_VARIABLES: 400,
  ERR_TARGET_LIMIT_EXCEEDED: 400,
  ERR_IDEMPOTENCY_KEY_REUSED: 422,
  ERR_OPERATION_FAILED: 500,
};

/** The HTTP status a public error is answered with. */
export function statusOf(failure: PublicError): number {
  return STATUS[failure.code];
}

/** The answer's message: where the fix is a call of this API, it names the call's route. */
function answerMessage(failure: PublicError): string {
  if (failure instanceof TemplateNotApprovedError)
    return failure.messageNaming(`PUT /api/templates/${failure.templateId} with {"status":"approved"}`);
  if (failure instanceof TemplateContentFrozenError) return failure.messageNaming('POST /api/templates');
  if (failure instanceof NoSigningSecretError) return failure.messageNaming('PUT /api/destination');
  return failure.message;
}

/** Maps `PublicError`s to their status and envelope; anything else is a logged, generic 500. */
export function errorResponses(): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> {
  return {
    onError: async (request) => {
      const failure = request.error;
      if (failure instanceof PublicError) {
        request.response = error(statusOf(failure), failure.code, answerMessage(failure), failure.details);
        return;
      }
      const requestId = request.context.awsRequestId;
      logger.error('unhandled error', { error: failure as Error, requestId });
      request.response = error(
        500,
        'ERR_OPERATION_FAILED',
        'The operation failed unexpectedly. Try again; if it keeps failing, report the requestId.',
        { requestId },
      );
    },
  };
}

/** App items are reused for 10 s, for at most 1,000 apps per warm function. */
const cache = createAuthCache({ ttlMs: 10_000, maxApps: 1_000 });

/**
 * Authenticates the caller from the `appId` and `apiKey` headers (any letter case),
 * sets `context.appId`, and adds it to the log keys. App items are cached for 10 s.
 */
export function authenticate(): MiddlewareObj<
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  Error,
  ApiContext
> {
  return {
    before: async (request) => {
      const appId = header(request.event, 'appId');
      const apiKey = header(request.event, 'apiKey');
      if (!appId || !apiKey) {
        throw new UnauthorizedError('Missing credentials: send the appId and apiKey headers of your app.');
      }
      // Checked before the id becomes a table key: a malformed header is the client's
      // mistake (401), not a failed DynamoDB call (500). Neither value is quoted back.
      if (!APP_ID_PATTERN.test(appId)) {
        throw new UnauthorizedError(
          `Invalid credentials: the appId header must be 1-64 letters, digits, '_' or '-' (it has ${appId.length} characters); send your app's id.`,
        );
      }
      if (apiKey.length > MAX_API_KEY_LENGTH) {
        throw new UnauthorizedError(
          `Invalid credentials: the apiKey header is at most ${MAX_API_KEY_LENGTH} characters (it has ${apiKey.length}); send one of your app's keys.`,
        );
      }
      const now = Date.now();
      let hashes = cache.get(appId, now);
      if (!hashes) {
        hashes = (await findApp(appId))?.keyHashes ?? [];
        cache.set(appId, hashes, now);
      }
      if (!apiKeyMatches(apiKey, hashes)) {
        throw new UnauthorizedError('Invalid credentials: the appId and apiKey do not match an app.');
      }
      request.context.appId = appId;
      logger.appendKeys({ appId });
    },
  };
}
