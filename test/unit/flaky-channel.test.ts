import { describe, expect, it } from 'vitest';
import {
  type DeliveryMessage,
  idempotencyKeyOf,
  PermanentDeliveryError,
  TransientDeliveryError,
} from '#shared/domain/channel.ts';
import { createFlakyChannel, seededRandom } from '#test/support/flaky-channel.ts';

function message(userId: string): DeliveryMessage {
  return { campaignId: 'cmp_1', userId, body: 'b', idempotencyKey: idempotencyKeyOf('cmp_1', userId) };
}

async function outcomes(channel: ReturnType<typeof createFlakyChannel>, count: number): Promise<string[]> {
  const results: string[] = [];
  for (let i = 0; i < count; i += 1) {
    try {
      await channel.deliver(message(`u${i}`));
      results.push('ok');
    } catch (error) {
      results.push(error instanceof TransientDeliveryError ? 'transient' : 'permanent');
    }
  }
  return results;
}

describe('flaky channel', () => {
  it('delivers everything when no fault is configured', async () => {
    const channel = createFlakyChannel();
    expect(await outcomes(channel, 20)).toEqual(Array(20).fill('ok'));
    expect(channel.delivered).toHaveLength(20);
    expect(channel.deliveredCount('u3')).toBe(1);
  });

  it('fails about the configured fraction transiently, the same way for the same seed', async () => {
    const first = await outcomes(createFlakyChannel({ transientRate: 0.3, seed: 7 }), 2000);
    const again = await outcomes(createFlakyChannel({ transientRate: 0.3, seed: 7 }), 2000);
    const other = await outcomes(createFlakyChannel({ transientRate: 0.3, seed: 8 }), 2000);
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
    const rate = first.filter((o) => o === 'transient').length / first.length;
    expect(rate).toBeGreaterThan(0.25);
    expect(rate).toBeLessThan(0.35);
  });

  it('fails chosen users permanently on every call', async () => {
    const channel = createFlakyChannel({ permanentUserIds: ['u1'] });
    await expect(channel.deliver(message('u1'))).rejects.toBeInstanceOf(PermanentDeliveryError);
    await expect(channel.deliver(message('u1'))).rejects.toThrow(/u1/);
    await channel.deliver(message('u2'));
    expect(channel.permanentFailures).toBe(2);
    expect(channel.calls.map((c) => c.userId)).toEqual(['u1', 'u1', 'u2']);
    expect(channel.delivered.map((c) => c.userId)).toEqual(['u2']);
  });

  it('counts repeated deliveries to one user, so tests can assert at-most-once', async () => {
    const channel = createFlakyChannel();
    await channel.deliver(message('u1'));
    await channel.deliver(message('u1'));
    expect(channel.deliveredCount('u1')).toBe(2);
    expect(channel.deliveredCount('u2')).toBe(0);
  });

  it('passes successful calls to an inner channel', async () => {
    const seen: string[] = [];
    const channel = createFlakyChannel({
      permanentUserIds: ['bad'],
      inner: { name: 'inner', deliver: async (m) => void seen.push(m.userId) },
    });
    await channel.deliver(message('good'));
    await expect(channel.deliver(message('bad'))).rejects.toThrow();
    expect(seen).toEqual(['good']);
  });

  it('rejects a rate outside 0..1', () => {
    expect(() => createFlakyChannel({ transientRate: 1.5 })).toThrow(RangeError);
  });

  it('draws numbers in [0, 1)', () => {
    const random = seededRandom(42);
    for (let i = 0; i < 1000; i += 1) {
      const n = random();
      expect(n).toBeGreaterThanOrEqual(0);
      expect(n).toBeLessThan(1);
    }
  });
});
