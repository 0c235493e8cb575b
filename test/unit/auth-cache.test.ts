import { describe, expect, it } from 'vitest';
import { createAuthCache } from '#shared/http/auth-cache.ts';

describe('the API key cache', () => {
  it('keeps at most maxApps apps, however many ids are tried, dropping the least recently read', () => {
    const cache = createAuthCache({ ttlMs: 10_000, maxApps: 3 });
    for (const id of ['a', 'b', 'c']) cache.set(id, [`hash-${id}`], 0);
    expect(cache.get('a', 1)).toEqual(['hash-a']);
    cache.set('d', ['hash-d'], 2);
    expect(cache.size).toBe(3);
    // 'b' was read least recently: it is the one dropped.
    expect(cache.get('b', 3)).toBeUndefined();
    expect(cache.get('a', 3)).toEqual(['hash-a']);
    expect(cache.get('c', 3)).toEqual(['hash-c']);
    for (let i = 0; i < 10_000; i += 1) cache.set(`made-up-${i}`, [], 4);
    expect(cache.size).toBe(3);
  });

  it('forgets an entry after its time', () => {
    const cache = createAuthCache({ ttlMs: 10_000, maxApps: 3 });
    cache.set('a', ['hash-a'], 0);
    expect(cache.get('a', 10_000)).toEqual(['hash-a']);
    expect(cache.get('a', 10_001)).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});
