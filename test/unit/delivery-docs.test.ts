/**
 * docs/delivery.md states the queue's timings; they must be the ones shared/resources.ts
 * and the consumer use, so a change to either fails here until the page says so too.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { deliveryQueue } from '#shared/resources.ts';

/** The page with every run of whitespace (line breaks too) as one space. */
const page = readFileSync(new URL('../../docs/delivery.md', import.meta.url), 'utf8').replace(/\s+/g, ' ');
/** Every "<n> s" the page gives for a named timing. */
const secondsNamed = (name: RegExp) =>
  [...page.matchAll(new RegExp(`${name.source}[^.]{0,40}?\\((\\d+) s`, 'g'))].map((m) => Number(m[1]));

describe('docs/delivery.md', () => {
  it('gives the consumer timeout and visibility timeout of shared/resources.ts', () => {
    const timeouts = secondsNamed(/consumer's timeout/);
    const visibility = secondsNamed(/visibility timeout/);
    expect(timeouts.length).toBeGreaterThan(0);
    expect(visibility.length).toBeGreaterThan(0);
    expect(new Set(timeouts)).toEqual(new Set([deliveryQueue.consumerTimeoutSeconds]));
    expect(new Set(visibility)).toEqual(new Set([deliveryQueue.visibilityTimeoutSeconds]));
  });

  it('gives the number of receives before the dead-letter queue', () => {
    expect(page).toContain(`${deliveryQueue.maxReceiveCount} receives before the DLQ`);
    expect(page).toContain(`gave up after ${deliveryQueue.maxReceiveCount} attempts`);
  });

  it('names no other consumer timeout', () => {
    const stale = [...page.matchAll(/consumer's (\d+) s/g)].map((m) => Number(m[1]));
    expect(stale.filter((s) => s !== deliveryQueue.consumerTimeoutSeconds)).toEqual([]);
  });
});
