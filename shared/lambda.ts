/**
 * The one middleware stack of every Lambda handler: the Lambda context in every log
 * line, the invocation traced, and the stored metrics published after each invocation
 * (with a `ColdStart` metric on the first one of the execution environment).
 *
 * ```ts
 * export const handler = lambdaStack<SQSEvent, SQSBatchResponse>().handler(async (event, context) => …);
 * ```
 *
 * It returns the middy instance, so an API function `.use()`s its own middleware on top
 * (shared/http/api-handler.ts).
 *
 * In Lambda an execution environment runs one invocation at a time. The local runtime
 * (infra/local) runs every function in one process, at once, with this one logger and
 * metrics: a line is tagged with the context of the invocation that started last, which
 * is its own only while no other starts meanwhile, and the process has one cold start.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy, { type MiddyfiedHandler } from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger, metrics, tracer } from './observability.ts';

/** Set on every handler the stack builds; `usesLambdaStack` reads it. */
const STACK = Symbol.for('csv-campaigns.lambdaStack');

export function lambdaStack<
  TEvent = unknown,
  TResult = unknown,
  TContext extends Context = Context,
>(): MiddyfiedHandler<TEvent, TResult, Error, TContext> {
  const handler = middy<TEvent, TResult, Error, TContext>()
    // Never the event, whatever POWERTOOLS_LOGGER_LOG_EVENT says: API events hold the apiKey
    // header and bodies with user data, S3 and SQS events object keys and message bodies.
    .use(injectLambdaContext(logger, { resetKeys: true, logEvent: false }))
    // Never the response either: it can carry user data (recipients, variables).
    .use(captureLambdaHandler(tracer, { captureResponse: false }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
  // `.use()` and `.handler()` return this same instance, so the mark stays on the export.
  Object.defineProperty(handler, STACK, { value: true });
  return handler;
}

/** Whether `handler` was built by `lambdaStack` (a test checks every function's export). */
export function usesLambdaStack(handler: unknown): boolean {
  return typeof handler === 'function' && (handler as { [STACK]?: unknown })[STACK] === true;
}
