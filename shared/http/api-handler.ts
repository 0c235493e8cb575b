/**
 * Builds the Lambda handler of an API function: middy with the shared middleware, and
 * routing by the API Gateway resource (`event.resource`) and method.
 */

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { MethodNotAllowedError } from '#shared/errors.ts';
import { logger, metrics, tracer } from '#shared/observability.ts';
import { type ApiContext, authenticate, errorResponses } from './middleware.ts';

export interface ApiRequest {
  event: APIGatewayProxyEvent;
  /** The authenticated caller's app. */
  appId: string;
  context: ApiContext;
}

export type RouteHandler = (request: ApiRequest) => Promise<APIGatewayProxyResult>;

/** Route handlers keyed by `'<METHOD> <resource path>'`, e.g. `'GET /api/campaigns/{id}'`. */
export type RouteTable = Record<string, RouteHandler>;

export function createApiHandler(routes: RouteTable) {
  const handler = async (
    event: APIGatewayProxyEvent,
    context: ApiContext,
  ): Promise<APIGatewayProxyResult> => {
    const route = routes[`${event.httpMethod} ${event.resource}`];
    if (!route) throw new MethodNotAllowedError(event.httpMethod, event.path);
    return route({ event, appId: context.appId, context });
  };
  // The event is never logged, whatever POWERTOOLS_LOGGER_LOG_EVENT says: it holds the apiKey header and the body.
  return middy<APIGatewayProxyEvent, APIGatewayProxyResult, Error, ApiContext>()
    .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
    .use(captureLambdaHandler(tracer))
    .use(logMetrics(metrics))
    .use(errorResponses())
    .use(authenticate())
    .handler(handler);
}
