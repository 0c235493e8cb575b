import { describe, expect, it } from 'vitest';
import { asyncInvoker } from '#infra/local/async-invoker.ts';

describe('asynchronous invocation', () => {
  it('retries a failing invocation twice, then succeeds on the third attempt', async () => {
    const seen: string[] = [];
    let calls = 0;
    const invoker = asyncInvoker<string>(
      async () => async (event) => {
        calls += 1;
        if (calls < 3) throw new Error(`attempt ${calls} failed`);
        seen.push(event);
      },
      { functionName: 'f', timeoutSeconds: 5, retryDelaysMs: [1, 1] },
    );
    invoker.invoke('e1');
    await invoker.idle();
    expect(calls).toBe(3);
    expect(seen).toEqual(['e1']);
  });

  it('gives up after the third failure and reports each one', async () => {
    const failures: number[] = [];
    let calls = 0;
    const invoker = asyncInvoker<string>(
      async () => async () => {
        calls += 1;
        throw new Error('always');
      },
      {
        functionName: 'f',
        timeoutSeconds: 5,
        retryDelaysMs: [1, 1],
        onFailure: (_e, attempt) => failures.push(attempt),
      },
    );
    invoker.invoke('e1');
    await invoker.idle();
    expect(calls).toBe(3);
    expect(failures).toEqual([1, 2, 3]);
  });
});
