/**
 * The cross-cutting middleware of every API function: error mapping (the only place
 * an error becomes an HTTP response) and authentication from the `appId` / `apiKey`
 * headers.
 */
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { apiKeyMatches } from '#shared/domain/api-keys.ts';
import { HttpError, UnauthorizedError } from '#shared/errors.ts';
import { logger } from '#shared/observability.ts';
import { findApp } from '#shared/store/apps.ts';
import { header } from './request.ts';
import { error } from './responses.ts';

/** The Lambda context, with the authenticated app. */
export interface ApiContext extends Context {
  appId: string;
}

/** Maps `HttpError`s to their envelope; anything else is a logged, generic 500. */
export function errorResponses(): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> {
  return {
    onError: async (request) => {
      const failure = request.error;
      if (failure instanceof HttpError) {
        request.response = error(failure.status, failure.code, failure.message, failure.details);
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

const cache = new Map<string, { hashes: string[]; until: number }>();
const CACHE_MS = 10_000;

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
      const now = Date.now();
      let entry = cache.get(appId);
      if (!entry || entry.until < now) {
        const app = await findApp(appId);
        entry = { hashes: app?.keyHashes ?? [], until: now + CACHE_MS };
        cache.set(appId, entry);
      }
      if (!apiKeyMatches(apiKey, entry.hashes)) {
        throw new UnauthorizedError('Invalid credentials: the appId and apiKey do not match an app.');
      }
      request.context.appId = appId;
      logger.appendKeys({ appId });
    },
  };
}
