/**
 * Builds the Lambda handler of an API function: the shared stack (shared/lambda.ts) with
 * error mapping and authentication on top, and routing by the API Gateway resource
 * (`event.resource`) and method.
 */

import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { MethodNotAllowedError } from '#shared/errors.ts';
import { lambdaStack } from '#shared/lambda.ts';
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
  return lambdaStack<APIGatewayProxyEvent, APIGatewayProxyResult, ApiContext>()
    .use(errorResponses())
    .use(authenticate())
    .handler(handler);
}
