import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '#shared/http/request.ts';

describe('list cursors', () => {
  it('round-trip a key of the caller app', () => {
    const key = { pk: 'APP#a1', sk: 'CAMPAIGN#c1' };
    expect(decodeCursor(encodeCursor(key) as string, 'a1')).toEqual(key);
  });

  it("refuse a cursor that points into another app's items", () => {
    const cursor = encodeCursor({ pk: 'APP#other', sk: 'CAMPAIGN#c1' }) as string;
    expect(() => decodeCursor(cursor, 'a1')).toThrow(/cursor is invalid/);
    const prefixTrick = encodeCursor({ pk: 'APP#a1x', sk: 'CAMPAIGN#c1' }) as string;
    expect(() => decodeCursor(prefixTrick, 'a1')).toThrow(/cursor is invalid/);
  });

  it('refuse garbage', () => {
    expect(() => decodeCursor('not-base64-json', 'a1')).toThrow(/cursor is invalid/);
  });

  it('is null at the end of a list', () => {
    expect(encodeCursor(undefined)).toBeNull();
  });
});
