import { describe, expect, it } from 'vitest';
import { atExpression, retryDelaySeconds, storeAppId } from '#shared/domain/sending.ts';

describe('atExpression', () => {
  it('writes a UTC time to the second', () => {
    expect(atExpression(new Date('2026-12-01T09:30:15Z'))).toBe('at(2026-12-01T09:30:15)');
  });

  it('rounds a time with milliseconds up, so the schedule never fires early', () => {
    expect(atExpression(new Date('2026-12-01T09:30:15.001Z'))).toBe('at(2026-12-01T09:30:16)');
    expect(atExpression(new Date('2026-12-31T23:59:59.500Z'))).toBe('at(2027-01-01T00:00:00)');
  });

  it('converts an offset time to UTC', () => {
    expect(atExpression(new Date('2026-12-01T10:30:00+01:00'))).toBe('at(2026-12-01T09:30:00)');
  });
});

describe('retryDelaySeconds', () => {
  it('doubles with each receive from the base', () => {
    expect([1, 2, 3, 4].map((n) => retryDelaySeconds(n, 10, 900))).toEqual([10, 20, 40, 80]);
  });

  it('stops at the cap', () => {
    expect(retryDelaySeconds(10, 10, 900)).toBe(900);
  });

  it('is 0 with a base of 0 (tests retry at once)', () => {
    expect(retryDelaySeconds(4, 0, 900)).toBe(0);
  });
});

describe('storeAppId', () => {
  it('keeps a campaign under its app', () => {
    expect(storeAppId('app-1', 'cmp_123')).toBe('app-1');
  });

  it('puts a one-call send in the app notification scope, which no app id can name', () => {
    expect(storeAppId('app-1', 'ntf_123')).toBe('app-1#NTF');
  });
});
