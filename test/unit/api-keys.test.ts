import { describe, expect, it } from 'vitest';
import { apiKeyMatches, hashApiKey, newApiKey } from '#shared/domain/api-keys.ts';

describe('API keys', () => {
  it('are random 256-bit keys with the ck_ prefix', () => {
    const keys = new Set(Array.from({ length: 100 }, newApiKey));
    expect(keys.size).toBe(100);
    for (const key of keys) expect(key).toMatch(/^ck_[A-Za-z0-9_-]{43}$/);
  });

  it('are stored as their SHA-256, in hex', () => {
    // The FIPS 180-2 test vector: the hash is SHA-256 itself, not something else that looks like it.
    expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const key = newApiKey();
    expect(hashApiKey(key)).toBe(hashApiKey(key));
    expect(hashApiKey(key)).not.toBe(hashApiKey(`${key}x`));
  });

  it('match only their own hash, wherever it is in the list', () => {
    const key = newApiKey();
    const others = Array.from({ length: 3 }, () => hashApiKey(newApiKey()));
    expect(apiKeyMatches(key, [hashApiKey(key), ...others])).toBe(true);
    expect(apiKeyMatches(key, [...others, hashApiKey(key)])).toBe(true);
    expect(apiKeyMatches(key, others)).toBe(false);
    expect(apiKeyMatches(`${key}x`, [hashApiKey(key)])).toBe(false);
    expect(apiKeyMatches(key, [])).toBe(false);
  });

  it('skip a stored hash of another length instead of failing the comparison', () => {
    const key = newApiKey();
    expect(apiKeyMatches(key, ['abcd', hashApiKey(key)])).toBe(true);
    expect(apiKeyMatches(key, ['abcd'])).toBe(false);
  });
});
