/**
 * Asynchronous invocation as Lambda does it for S3 notifications and EventBridge
 * Scheduler: the caller does not wait; a failed invocation is retried twice, after a
 * delay (Lambda waits about 1 and 2 minutes; the local runtime defaults to 1 and 2
 * seconds), then dropped with a log line.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'aws-lambda';
import { lambdaContext } from './lambda-context.ts';

export type EventHandler<E> = (event: E, context: Context) => Promise<unknown>;

export interface AsyncInvoker<E> {
  invoke(event: E): void;
  /** Resolves when no invocation is running or waiting for a retry. */
  idle(): Promise<void>;
  /** Stops retrying and waits for running invocations. */
  stop(): Promise<void>;
}

export interface AsyncInvokerOptions {
  functionName: string;
  timeoutSeconds: number;
  /** Delays before the two retries, in ms. */
  retryDelaysMs?: readonly number[];
  onFailure?: (error: unknown, attempt: number) => void;
}

export function asyncInvoker<E>(
  load: () => Promise<EventHandler<E>>,
  options: AsyncInvokerOptions,
): AsyncInvoker<E> {
  const delays = options.retryDelaysMs ?? [1000, 2000];
  const pending = new Set<Promise<void>>();
  let stopped = false;

  const run = async (event: E) => {
    for (let attempt = 0; attempt <= delays.length; attempt += 1) {
      if (stopped) return;
      try {
        const handler = await load();
        await handler(event, lambdaContext(options.functionName, options.timeoutSeconds));
        return;
      } catch (error) {
        options.onFailure?.(error, attempt + 1);
        const delay = delays[attempt];
        if (delay === undefined) return;
        await sleep(delay);
      }
    }
  };

  return {
    invoke(event) {
      if (stopped) return;
      const task = run(event).finally(() => pending.delete(task));
      pending.add(task);
    },
    async idle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    async stop() {
      stopped = true;
      await Promise.allSettled([...pending]);
    },
  };
}
