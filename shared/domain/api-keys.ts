/**
 * API keys: 256 random bits, stored only as a SHA-256 hash (the key's entropy makes a
 * slow hash unnecessary) and compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A new API key, shown to its owner once. */
export function newApiKey(): string {
  return `ck_${randomBytes(32).toString('base64url')}`;
}

/** The stored form of a key. */
export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey, 'utf8').digest('hex');
}

/** True when `apiKey` hashes to one of `hashes`; every hash is compared, in constant time. */
export function apiKeyMatches(apiKey: string, hashes: readonly string[]): boolean {
  const candidate = Buffer.from(hashApiKey(apiKey), 'hex');
  let matched = false;
  for (const hash of hashes) {
    const stored = Buffer.from(hash, 'hex');
    if (stored.length === candidate.length && timingSafeEqual(stored, candidate)) matched = true;
  }
  return matched;
}

/** App ids: what a user can type in a header and we can put in a key. */
export const APP_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Longest `apiKey` header looked at (a key this system makes has 46 characters). */
export const MAX_API_KEY_LENGTH = 256;
