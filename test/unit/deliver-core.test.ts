/**
 * The deliver core's state machine (shared/delivery/deliver.ts) over in-memory ports:
 * every move of a chunk's ledger item, replays, a crash at each point between claim and
 * count, and cancel racing delivery. Every test ends by checking each recipient's stored
 * status and the counters, not only their sums.
 */
import { describe, expect, it } from 'vitest';
import { createDeliverer, DELIVERY_OUTCOME_UNKNOWN, LEASE_MARGIN_MS } from '#shared/delivery/deliver.ts';
import { PermanentDeliveryError, TransientDeliveryError } from '#shared/domain/channel.ts';
import { Crash, campaignBatch, greetingTemplate, memoryWorld } from '#test/support/memory-delivery.ts';

const template = greetingTemplate;

const users = (n: number, prefix = 'u') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

function setup(n: number, options: { chunkSize?: number; maxReceiveCount?: number } = {}) {
  const userIds = users(n);
  const world = memoryWorld({ template, userIds });
  const deliverer = createDeliverer(world.ports, {
    maxReceiveCount: options.maxReceiveCount ?? 5,
    claimCutoffMs: 20_000,
    shardOf: () => 0,
  });
  const batch = campaignBatch(userIds, options.chunkSize);
  const receive = (receiveCount = 1, messageId = 'm1', timeLeft = 60_000) =>
    deliverer.deliverMessage({ batch, messageId, receiveCount, timeLeft: () => timeLeft });
  const statuses = () => Object.fromEntries([...world.recipients].map(([u, r]) => [u, r.status]));
  const all = (status: string) => Object.fromEntries(userIds.map((u) => [u, status]));
  return { world, deliverer, batch, receive, statuses, all, userIds };
}

describe('deliver core', () => {
  it('delivers a chunk with one claim, one channel call and one count, and ends the campaign', async () => {
    const { world, receive, statuses, all } = setup(30, { chunkSize: 10 });
    const result = await receive();
    expect(result).toEqual({ counted: { sent: 30, failed: 0, skipped: 0 }, channelCalls: 3 });
    expect(world.calls.map((c) => c.messages.length)).toEqual([10, 10, 10]);
    expect(world.calls[0]?.messages[0]).toEqual({
      userId: 'u0',
      title: null,
      body: 'Hi U0',
      idempotencyKey: 'cmp_1:u0',
    });
    expect(world.calls.every((c) => c.appId === 'app' && c.campaignId === 'cmp_1')).toBe(true);
    expect([...world.ledger.keys()]).toEqual(['u0', 'u10', 'u20']);
    expect([...world.ledger.values()].map((e) => e.state)).toEqual(['done', 'done', 'done']);
    expect(statuses()).toEqual(all('sent'));
    expect(world.campaign).toMatchObject({
      status: 'sent',
      counts: { pending: 0, queued: 0, sent: 30, failed: 0, skipped: 0 },
    });
  });

  it('does nothing on a replay of a delivered message, or on the same chunk in another message', async () => {
    const { world, receive, statuses, all } = setup(10);
    await receive();
    const again = await receive(2);
    const elsewhere = await receive(1, 'm2');
    expect(again).toEqual({ counted: { sent: 0, failed: 0, skipped: 0 }, channelCalls: 0 });
    expect(elsewhere).toEqual({ counted: { sent: 0, failed: 0, skipped: 0 }, channelCalls: 0 });
    expect(world.calls).toHaveLength(1);
    expect(statuses()).toEqual(all('sent'));
    expect(world.campaign.counts).toEqual({ pending: 0, queued: 0, sent: 10, failed: 0, skipped: 0 });
  });

  it.each([
    ['after its claim', 'claim', 'after', 0],
    ['after the channel answered', 'settle', 'before', 1],
  ] as const)(
    'fails a chunk whose receive stopped %s, delivering it never again',
    async (_, point, phase, deliveredBefore) => {
      const { world, receive, statuses, all, userIds } = setup(5);
      world.crash(point, phase);
      await expect(receive(1)).rejects.toBeInstanceOf(Crash);
      expect(world.ledger.get('u0')?.state).toBe('claimed');
      expect(world.delivered.size).toBe(deliveredBefore * 5);

      const result = await receive(2);
      expect(result.channelCalls).toBe(0);
      expect(result.counted).toEqual({ sent: 0, failed: 5, skipped: 0 });
      expect(world.calls).toHaveLength(deliveredBefore);
      expect(statuses()).toEqual(all('failed'));
      for (const u of userIds) expect(world.recipients.get(u)?.error).toBe(DELIVERY_OUTCOME_UNKNOWN);
      expect(world.campaign).toMatchObject({
        status: 'failed',
        counts: { pending: 0, queued: 0, sent: 0, failed: 5, skipped: 0 },
      });
    },
  );

  it.each([
    ['after its outcome was written', 'settle', 'after'],
    ['after its projection', 'project', 'after'],
    ['before its count', 'count', 'before'],
  ] as const)(
    'counts a chunk whose receive stopped %s as sent, without delivering it again',
    async (_, point, phase) => {
      const { world, receive, statuses, all } = setup(5);
      world.crash(point, phase);
      await expect(receive(1)).rejects.toBeInstanceOf(Crash);
      expect(world.ledger.get('u0')?.state).toBe('settling');
      expect(world.campaign.counts.sent).toBe(0);

      const result = await receive(2);
      expect(result).toEqual({ counted: { sent: 5, failed: 0, skipped: 0 }, channelCalls: 0 });
      expect(world.calls).toHaveLength(1);
      expect(statuses()).toEqual(all('sent'));
      expect(world.campaign).toMatchObject({
        status: 'sent',
        counts: { pending: 0, queued: 0, sent: 5, failed: 0, skipped: 0 },
      });
    },
  );

  it('ends the campaign on the next receive when the one that counted the last chunk stopped before', async () => {
    const { world, receive } = setup(5);
    world.crash('count', 'after');
    await expect(receive(1)).rejects.toBeInstanceOf(Crash);
    expect(world.campaign.status).toBe('sending');
    expect(world.campaign.counts.sent).toBe(5);
    const result = await receive(2);
    expect(result.counted).toEqual({ sent: 0, failed: 0, skipped: 0 });
    expect(world.campaign).toMatchObject({ status: 'sent', counts: { sent: 5, queued: 0 } });
  });

  it('leaves a chunk claimed by a live receive of another message alone until its lease has run out', async () => {
    const { world, receive, statuses, all } = setup(5);
    world.crash('claim', 'after');
    await expect(receive(1, 'm1', 60_000)).rejects.toBeInstanceOf(Crash);

    // The same chunk in a duplicate message, while the first receive may still be delivering.
    const early = await receive(1, 'm2');
    expect(early.retry).toMatch(/another receive/);
    expect(world.ledger.get('u0')?.state).toBe('claimed');
    // The same message received twice at once (same receive count): not known to be gone either.
    expect((await receive(1, 'm1')).retry).toMatch(/another receive/);

    world.clock.ms += 60_000 + LEASE_MARGIN_MS + 1;
    const late = await receive(1, 'm2');
    expect(late.retry).toBeUndefined();
    expect(late.counted.failed).toBe(5);
    expect(world.calls).toHaveLength(0);
    expect(statuses()).toEqual(all('failed'));
  });

  it('waits for a chunk a live receive of a duplicate message is delivering, and counts nothing twice', async () => {
    const { world, receive, statuses, all } = setup(5);
    world.crash('claim', 'after');
    await expect(receive(1, 'm1')).rejects.toBeInstanceOf(Crash);
    // While the duplicate waits, the owner finishes: its outcome written, then counted.
    let polls = 0;
    world.onSleep = () => {
      polls += 1;
      const entry = world.ledger.get('u0');
      if (polls === 2 && entry?.state === 'claimed') {
        world.ledger.set('u0', {
          state: 'settling',
          outcomes: ['u0', 'u1', 'u2', 'u3', 'u4'].map((userId) => ({ userId, status: 'sent' as const })),
          settledBy: entry.owner?.token as string,
        });
      }
    };
    const duplicate = await receive(1, 'm2');
    expect(polls).toBeGreaterThanOrEqual(2);
    expect(duplicate.retry).toBeUndefined();
    expect(duplicate.counted.sent).toBe(5);
    expect(world.calls).toHaveLength(0);
    expect(statuses()).toEqual(all('sent'));
    expect(world.campaign).toMatchObject({ status: 'sent', counts: { sent: 5, queued: 0 } });
  });

  it('skips every chunk of a cancelled campaign, and never calls the channel', async () => {
    const { world, receive, statuses, all } = setup(20, { chunkSize: 10 });
    world.campaign.status = 'cancelled';
    const result = await receive();
    expect(result).toEqual({ counted: { sent: 0, failed: 0, skipped: 20 }, channelCalls: 0 });
    expect(world.calls).toHaveLength(0);
    expect(statuses()).toEqual(all('skipped'));
    expect(world.campaign).toMatchObject({
      status: 'cancelled',
      counts: { pending: 0, queued: 0, sent: 0, failed: 0, skipped: 20 },
    });
  });

  it('stops within the chunk in flight when a cancel commits during its channel call', async () => {
    const { world, receive, statuses, userIds } = setup(30, { chunkSize: 10 });
    world.duringChannelCall = () => {
      world.campaign.status = 'cancelled';
    };
    const result = await receive();
    expect(world.calls).toHaveLength(1);
    expect(result.counted).toEqual({ sent: 10, failed: 0, skipped: 20 });
    expect(statuses()).toEqual(Object.fromEntries(userIds.map((u, i) => [u, i < 10 ? 'sent' : 'skipped'])));
    expect(world.campaign).toMatchObject({
      status: 'cancelled',
      counts: { pending: 0, queued: 0, sent: 10, failed: 0, skipped: 20 },
    });
  });

  it('releases a chunk on a transient failure, delivers it on the next receive, and gives up on the last', async () => {
    const { world, receive, statuses, all } = setup(4, { maxReceiveCount: 3 });
    world.answer = async () => {
      throw new TransientDeliveryError('receiver down', { summary: 'receiver down' });
    };
    const first = await receive(1);
    expect(first.retry).toBe('receiver down');
    expect(world.ledger.has('u0')).toBe(false);
    expect(statuses()).toEqual(all('pending'));

    const second = await receive(2);
    expect(second.retry).toBe('receiver down');
    const last = await receive(3);
    // Settled, and still reported failed: the message goes on to the dead-letter queue.
    expect(last.retry).toBe('gave up on the last receive: receiver down');
    expect(last.counted.failed).toBe(4);
    expect(world.calls).toHaveLength(3);
    expect(world.recipients.get('u0')?.error).toBe('gave up after 3 attempts: receiver down');
    expect(world.campaign).toMatchObject({ status: 'failed', counts: { queued: 0, failed: 4, sent: 0 } });
  });

  it('delivers a released chunk whole on the next receive', async () => {
    const { world, receive, statuses, all } = setup(4);
    let calls = 0;
    world.answer = async (batch) => {
      calls += 1;
      if (calls === 1) throw new TransientDeliveryError('timeout');
      return batch.messages.map(() => ({ status: 'accepted' as const }));
    };
    await receive(1);
    const result = await receive(2);
    expect(result.counted.sent).toBe(4);
    expect(statuses()).toEqual(all('sent'));
    expect(world.campaign.counts).toEqual({ pending: 0, queued: 0, sent: 4, failed: 0, skipped: 0 });
  });

  it('fails the recipients the far side rejects, or whose variables do not render, and sends the rest', async () => {
    const { world, batch, deliverer } = setup(4);
    const recipients = batch.recipients.map((r) => (r.userId === 'u1' ? { ...r, variables: {} } : r));
    world.answer = async (b) =>
      b.messages.map((m) =>
        m.userId === 'u2'
          ? { status: 'rejected' as const, reason: 'no such user' }
          : { status: 'accepted' as const },
      );
    await deliverer.deliverMessage({
      batch: { ...batch, recipients },
      messageId: 'm1',
      receiveCount: 1,
      timeLeft: () => 60_000,
    });
    expect(world.calls[0]?.messages.map((m) => m.userId)).toEqual(['u0', 'u2', 'u3']);
    expect(Object.fromEntries(world.recipients)).toEqual({
      u0: { status: 'sent' },
      u1: { status: 'failed', error: expect.stringMatching(/name/) },
      u2: { status: 'failed', error: 'no such user' },
      u3: { status: 'sent' },
    });
    expect(world.campaign).toMatchObject({
      status: 'partially_failed',
      counts: { sent: 2, failed: 2, queued: 0 },
    });
  });

  it('fails the whole chunk with the reason when the far side refuses the batch', async () => {
    const { world, receive, statuses, all } = setup(3);
    world.answer = async () => {
      throw new PermanentDeliveryError('webhook answered 400');
    };
    const result = await receive();
    expect(result.counted.failed).toBe(3);
    expect(statuses()).toEqual(all('failed'));
    expect(world.recipients.get('u0')?.error).toBe('webhook answered 400');
  });

  it('bounds a rejection reason it stores', async () => {
    const { world, receive } = setup(1);
    world.answer = async () => [{ status: 'rejected', reason: 'x'.repeat(10_000) }];
    await receive();
    expect(world.recipients.get('u0')?.error?.length).toBe(500);
  });

  it('claims nothing with too little time left, and gives the chunk up on the last receive', async () => {
    const { world, receive, statuses, all } = setup(3, { maxReceiveCount: 2 });
    const short = await receive(1, 'm1', 5_000);
    expect(short.retry).toMatch(/out of time/);
    expect(world.ledger.size).toBe(0);
    expect(statuses()).toEqual(all('pending'));
    const last = await receive(2, 'm1', 5_000);
    expect(last.retry).toMatch(/^gave up on the last receive/);
    expect(last.counted.failed).toBe(3);
    expect(world.campaign.status).toBe('failed');
    expect(world.calls).toHaveLength(0);
    expect(world.recipients.get('u0')?.error).toMatch(/^gave up after 2 attempts: out of time/);
  });

  it('fails a message whose template is gone without touching its chunks', async () => {
    const { world, batch } = setup(2);
    world.ports.templates.find = async () => undefined;
    const deliverer = createDeliverer(world.ports, {
      maxReceiveCount: 5,
      claimCutoffMs: 0,
      shardOf: () => 0,
    });
    await expect(
      deliverer.deliverMessage({ batch, messageId: 'm1', receiveCount: 1, timeLeft: () => 60_000 }),
    ).rejects.toThrow(/template 'tpl_1'/);
    expect(world.calls).toHaveLength(0);
  });
});

describe("deliver core: the app's channel", () => {
  it("hands each chunk to the channel of the message's app, in that channel's batch size", async () => {
    const { world, deliverer, batch, statuses, all } = setup(12, { chunkSize: 12 });
    const asked: string[] = [];
    const calls: number[] = [];
    const own = {
      name: 'own',
      maxBatchSize: 5,
      deliverBatch: async (b: { messages: readonly unknown[] }) => {
        calls.push(b.messages.length);
        return b.messages.map(() => ({ status: 'accepted' as const }));
      },
    };
    world.ports.channels = {
      channelFor: async (appId) => {
        asked.push(appId);
        return own;
      },
    };
    const result = await deliverer.deliverMessage({
      batch,
      messageId: 'm1',
      receiveCount: 1,
      timeLeft: () => 60_000,
    });
    expect(asked).toEqual(['app']);
    // A chunk of 12 cut by the app's batch size of 5; the memory world's default channel is never called.
    expect(calls).toEqual([5, 5, 2]);
    expect(world.calls).toEqual([]);
    expect(result.counted).toEqual({ sent: 12, failed: 0, skipped: 0 });
    expect(statuses()).toEqual(all('sent'));
  });
});
