import { describe, expect, it } from 'vitest';
import { apiKeyMatches, hashApiKey, newApiKey } from '#shared/domain/api-keys.ts';

describe('API keys', () => {
  it('are random, and stored only as a hash that differs from the key', () => {
    const a = newApiKey();
    const b = newApiKey();
    expect(a).not.toBe(b);
    expect(a.length).toBeGreaterThanOrEqual(40);
    expect(hashApiKey(a)).not.toContain(a);
    expect(hashApiKey(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('match only their own hash', () => {
    const key = newApiKey();
    expect(apiKeyMatches(key, [hashApiKey(newApiKey()), hashApiKey(key)])).toBe(true);
    expect(apiKeyMatches(`${key}x`, [hashApiKey(key)])).toBe(false);
    expect(apiKeyMatches(key, [])).toBe(false);
  });
});
