/**
 * Values made on first use (shared/first-use.ts): what lets a test or the local runtime
 * import a store, a handler's adapters or the observability module before it has set
 * the environment they are configured by.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { describe, expect, it, vi } from 'vitest';
import { once, onFirstUse } from '#shared/first-use.ts';

class Counter {
  #count = 0;
  label = 'counter';
  add(n: number): number {
    this.#count += n;
    return this.#count;
  }
}

describe('onFirstUse', () => {
  it('makes the object on its first use, once, and not before', () => {
    const create = vi.fn(() => new Counter());
    const counter = onFirstUse(create);
    expect(create).not.toHaveBeenCalled();
    expect(counter.add(2)).toBe(2);
    // A method read off the proxy and called alone still reaches the private field.
    const { add } = counter;
    expect(add(3)).toBe(5);
    expect(counter instanceof Counter).toBe(true);
    expect('label' in counter).toBe(true);
    counter.label = 'renamed';
    expect(counter.label).toBe('renamed');
    expect(create).toHaveBeenCalledTimes(1);
  });

  it('lets a spy replace a method of the real object, and restore it', () => {
    const counter = onFirstUse(() => new Counter());
    const spy = vi.spyOn(counter, 'add').mockImplementation(() => -1);
    expect(counter.add(1)).toBe(-1);
    expect(spy).toHaveBeenCalledWith(1);
    spy.mockRestore();
    expect(counter.add(1)).toBe(1);
  });

  it('reads the environment when the object is first used, not when it is declared', () => {
    const logger = onFirstUse(() => new Logger({ serviceName: 'first-use-test' }));
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'ERROR');
    try {
      expect(logger.getLevelName()).toBe('ERROR');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('once', () => {
  it('calls its function on the first call only, and answers the same value after', () => {
    const create = vi.fn(() => ({ made: true }));
    const value = once(create);
    expect(create).not.toHaveBeenCalled();
    const first = value();
    expect(value()).toBe(first);
    expect(create).toHaveBeenCalledTimes(1);
  });
});
