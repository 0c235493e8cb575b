import { describe, expect, it } from 'vitest';
import { CompactStringSet } from '#shared/domain/string-set.ts';

describe('CompactStringSet', () => {
  it('adds a string once and reports later adds as already there', () => {
    const set = new CompactStringSet();
    expect(set.add('u1')).toBe(true);
    expect(set.add('u1')).toBe(false);
    expect(set.has('u1')).toBe(true);
    expect(set.has('u2')).toBe(false);
    expect(set.size).toBe(1);
  });

  it('tells apart strings that differ in case, length or a single character, the empty one included', () => {
    const set = new CompactStringSet();
    for (const value of ['abc', 'ABC', 'ab', 'abcd', 'abd', '', 'é', '😀']) expect(set.add(value)).toBe(true);
    for (const value of ['abc', 'ABC', 'ab', 'abcd', 'abd', '', 'é', '😀'])
      expect(set.add(value)).toBe(false);
    expect(set.size).toBe(8);
  });

  it('agrees with a Set over 200,000 adds with many repeats, across table and storage growth', () => {
    const set = new CompactStringSet();
    const reference = new Set<string>();
    const disagreements: string[] = [];
    for (let i = 0; i < 200_000; i++) {
      const value = `user-${(i * 7919) % 150_001}${i % 3 === 0 ? 'x'.repeat(i % 50) : ''}`;
      if (set.add(value) !== !reference.has(value)) disagreements.push(value);
      reference.add(value);
    }
    expect(disagreements).toEqual([]);
    expect(set.size).toBe(reference.size);
    expect([...reference].filter((value) => !set.has(value))).toEqual([]);
    expect(set.has('user-missing')).toBe(false);
  });
});
