import { describe, expect, it } from 'vitest';
import {
  type ChannelBatch,
  type ChannelMessage,
  type ChannelResult,
  idempotencyKeyOf,
  TransientDeliveryError,
} from '#shared/domain/channel.ts';
import { createFlakyChannel, seededRandom } from '#test/support/flaky-channel.ts';

function message(userId: string): ChannelMessage {
  return { userId, title: null, body: 'b', idempotencyKey: idempotencyKeyOf('cmp_1', userId) };
}

function batch(...userIds: string[]): ChannelBatch {
  return { appId: 'app_1', campaignId: 'cmp_1', messages: userIds.map(message) };
}

/** One call per user, one message each: `ok`, `rejected` or `transient`. */
async function outcomes(channel: ReturnType<typeof createFlakyChannel>, count: number): Promise<string[]> {
  const results: string[] = [];
  for (let i = 0; i < count; i += 1) {
    try {
      const [result] = await channel.deliverBatch(batch(`u${i}`));
      results.push(result?.status === 'accepted' ? 'ok' : 'rejected');
    } catch (error) {
      results.push(error instanceof TransientDeliveryError ? 'transient' : 'unexpected');
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
    expect(channel.delivered[3]).toEqual({ appId: 'app_1', campaignId: 'cmp_1', ...message('u3') });
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

  it('rejects chosen users on every call', async () => {
    const channel = createFlakyChannel({ permanentUserIds: ['u1'] });
    expect(await channel.deliverBatch(batch('u1'))).toEqual([
      { status: 'rejected', reason: "user 'u1' does not accept messages (injected)" },
    ]);
    expect((await channel.deliverBatch(batch('u1')))[0]?.status).toBe('rejected');
    expect(await channel.deliverBatch(batch('u2'))).toEqual([{ status: 'accepted' }]);
    expect(channel.permanentFailures).toBe(2);
    expect(channel.calls.map((c) => c.userId)).toEqual(['u1', 'u1', 'u2']);
    expect(channel.delivered.map((c) => c.userId)).toEqual(['u2']);
  });

  it('answers a batch message by message, in order, and fails a transient call whole', async () => {
    const channel = createFlakyChannel({ permanentUserIds: ['bad'] });
    expect(await channel.deliverBatch(batch('a', 'bad', 'b'))).toEqual([
      { status: 'accepted' },
      { status: 'rejected', reason: "user 'bad' does not accept messages (injected)" },
      { status: 'accepted' },
    ]);
    expect(channel.delivered.map((c) => c.userId)).toEqual(['a', 'b']);

    const failing = createFlakyChannel({ transientRate: 1, permanentUserIds: ['bad'] });
    await expect(failing.deliverBatch(batch('a', 'bad', 'b'))).rejects.toThrow(
      "channel unavailable (injected) for 'a', 'b'",
    );
    expect(failing.delivered).toEqual([]);
    expect(failing.transientFailures).toBe(1);
    expect(failing.permanentFailures).toBe(0);
    // Rejected users alone draw nothing: the call cannot fail transiently.
    expect((await failing.deliverBatch(batch('bad')))[0]?.status).toBe('rejected');
  });

  it('counts repeated deliveries to one user, so tests can assert at-most-once', async () => {
    const channel = createFlakyChannel();
    await channel.deliverBatch(batch('u1'));
    await channel.deliverBatch(batch('u1'));
    expect(channel.deliveredCount('u1')).toBe(2);
    expect(channel.deliveredCount('u2')).toBe(0);
  });

  it('passes the messages it does not reject to an inner channel, and takes its answers', async () => {
    const seen: string[] = [];
    const channel = createFlakyChannel({
      permanentUserIds: ['bad'],
      inner: {
        name: 'inner',
        maxBatchSize: 100,
        deliverBatch: async (b) => {
          seen.push(...b.messages.map((m) => m.userId));
          return b.messages.map(
            (m): ChannelResult =>
              m.userId === 'refused'
                ? { status: 'rejected', reason: 'inner says no' }
                : { status: 'accepted' },
          );
        },
      },
    });
    expect(await channel.deliverBatch(batch('good', 'bad', 'refused'))).toEqual([
      { status: 'accepted' },
      { status: 'rejected', reason: "user 'bad' does not accept messages (injected)" },
      { status: 'rejected', reason: 'inner says no' },
    ]);
    expect(seen).toEqual(['good', 'refused']);
    expect(channel.delivered.map((c) => c.userId)).toEqual(['good']);
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
