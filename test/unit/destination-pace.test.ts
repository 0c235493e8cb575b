/**
 * The pace of a destination (shared/domain/destinations.ts): which bucket an app's
 * deliveries take tokens from, its burst, and what `GET /api/destination` shows of it.
 */
import { describe, expect, it } from 'vitest';
import { burstOf, type DestinationItem, destinationView, paceOf } from '#shared/domain/destinations.ts';

const item = (patch: Partial<DestinationItem>): DestinationItem => ({
  appId: 'a',
  kind: 'webhook',
  url: 'https://hooks.example.com/x',
  batchSize: 100,
  ratePerSecond: null,
  version: 'v1',
  updatedAt: '2026-01-01T00:00:00.000Z',
  ...patch,
});
const deployment = { ratePerSecond: 30 };

describe('the pace of a destination', () => {
  it('has a burst of one second of the rate, and at least one message', () => {
    expect(burstOf(50)).toBe(50);
    expect(burstOf(500)).toBe(500);
    expect(burstOf(1)).toBe(1);
    expect(burstOf(2.9)).toBe(2);
  });

  it("is an app's own bucket for its paced webhook, and none for its unpaced one", () => {
    expect(paceOf('a', item({ ratePerSecond: 50, batchSize: 10 }), deployment)).toEqual({
      bucket: 'app:a',
      ratePerSecond: 50,
      burst: 50,
    });
    expect(paceOf('a', item({}), deployment)).toBeUndefined();
  });

  it("is the deployment's one shared bucket on the default, and none when the deployment has no rate", () => {
    const expected = { bucket: 'default', ratePerSecond: 30, burst: 30 };
    expect(paceOf('a', undefined, deployment)).toEqual(expected);
    expect(paceOf('b', item({ kind: 'default', ratePerSecond: 5 }), deployment)).toEqual(expected);
    expect(paceOf('a', undefined, { ratePerSecond: undefined })).toBeUndefined();
  });

  it("shows the deployment's rate as the default destination's ratePerSecond", () => {
    expect(destinationView(undefined, 30).ratePerSecond).toBe(30);
    expect(destinationView(item({ kind: 'default', ratePerSecond: 5 }), 30).ratePerSecond).toBe(30);
    expect(destinationView(undefined).ratePerSecond).toBeNull();
    expect(destinationView(item({ ratePerSecond: 7 }), 30).ratePerSecond).toBe(7);
  });
});
