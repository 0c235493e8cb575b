/**
 * The deliver core's ports in memory, for unit tests of its state machine: a ledger with
 * the same conditional moves as the DynamoDB one, recipients, one campaign with its
 * counters, a fake clock and a recording channel. `crashAfter` makes a port throw right
 * after its effect took place, the way a consumer killed at that point leaves the world.
 */
import type {
  ChunkOutcome,
  ChunkRef,
  ClaimResult,
  CountDelta,
  DeliverPorts,
  LedgerEntry,
  Owner,
  SettleResult,
} from '#shared/delivery/ports.ts';
import type { ChannelBatch, ChannelResult, DeliveryChannel } from '#shared/domain/channel.ts';
import type { DeliveryBatch } from '#shared/domain/delivery-batches.ts';
import type { CampaignStatus, RecipientCounts, Template } from '#shared/domain/model.ts';

/** An approved template `Hi {{name}}` of app `app`, for the deliver core's tests. */
export const greetingTemplate: Template = {
  id: 'tpl_1',
  appId: 'app',
  name: 't',
  body: 'Hi {{name}}',
  variableSchema: { name: { type: 'string' } },
  status: 'approved',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

/**
 * A delivery message of campaign `cmp_1` of app `app` for `userIds` (each with `name`, its
 * id in capitals), cut into chunks of `chunkSize` when given.
 */
export function campaignBatch(userIds: readonly string[], chunkSize?: number): DeliveryBatch {
  return {
    v: 1,
    kind: 'campaign',
    appId: 'app',
    campaignId: 'cmp_1',
    templateId: 'tpl_1',
    ...(chunkSize ? { chunkSize } : {}),
    recipients: userIds.map((userId) => ({ userId, variables: { name: userId.toUpperCase() } })),
  };
}

/** Thrown by a port told to crash: the receive stops there. */
export class Crash extends Error {}

export type CrashPoint = 'claim' | 'settle' | 'project' | 'count';
export type CrashPhase = 'before' | 'after';

export interface MemoryWorld {
  ports: DeliverPorts;
  /** Ledger items by chunk id. */
  ledger: Map<string, LedgerEntry>;
  /** Stored recipient statuses by user id. */
  recipients: Map<string, { status: string; error?: string }>;
  campaign: { status: CampaignStatus; recipientCount: number; counts: RecipientCounts };
  /** Every channel call, in order. */
  calls: ChannelBatch[];
  /** Delivered messages per user id. */
  delivered: Map<string, number>;
  clock: { ms: number };
  /**
   * The next time the named port runs, it throws `Crash` before its effect, or right after
   * it (`settle` before its write is a receive killed just after the channel answered).
   */
  crash(point: CrashPoint, phase: CrashPhase): void;
  /** How the channel answers the next calls (default: every message accepted). */
  answer: (batch: ChannelBatch) => Promise<ChannelResult[]>;
  /** Runs right before the channel answers: a cancel racing a delivery in flight. */
  duringChannelCall?: () => void;
  /** Runs while the core waits for another receive's claim. */
  onSleep?: () => void | Promise<void>;
}

export function memoryWorld(options: {
  template: Template;
  userIds: readonly string[];
  maxBatchSize?: number;
}) {
  const crashes = new Set<string>();
  const crash = (point: CrashPoint, phase: CrashPhase) => {
    if (crashes.delete(`${phase} ${point}`)) throw new Crash(`crash ${phase} ${point}`);
  };
  let tokens = 0;
  const world: MemoryWorld = {
    ledger: new Map(),
    recipients: new Map(options.userIds.map((u) => [u, { status: 'pending' }])),
    campaign: {
      status: 'sending',
      recipientCount: options.userIds.length,
      counts: { pending: 0, queued: options.userIds.length, sent: 0, failed: 0, skipped: 0 },
    },
    calls: [],
    delivered: new Map(),
    clock: { ms: 1_000_000 },
    crash: (point, phase) => crashes.add(`${phase} ${point}`),
    answer: async (batch) => batch.messages.map(() => ({ status: 'accepted' as const })),
    ports: undefined as unknown as DeliverPorts,
  };
  const clone = <T>(value: T): T => structuredClone(value);
  const channel: DeliveryChannel = {
    name: 'memory',
    maxBatchSize: options.maxBatchSize ?? 100,
    async deliverBatch(batch) {
      world.calls.push(batch);
      world.duringChannelCall?.();
      const results = await world.answer(batch);
      batch.messages.forEach((m, i) => {
        if (results[i]?.status === 'accepted')
          world.delivered.set(m.userId, (world.delivered.get(m.userId) ?? 0) + 1);
      });
      return results;
    },
  };
  world.ports = {
    ledger: {
      async claim(ref: ChunkRef, owner: Owner, leaseUntil: number): Promise<ClaimResult> {
        crash('claim', 'before');
        const entry = world.ledger.get(ref.chunkId);
        if (entry) return { claimed: false, entry: clone(entry) };
        if (world.campaign.status !== 'sending')
          return { claimed: false, campaignStatus: world.campaign.status };
        world.ledger.set(ref.chunkId, { state: 'claimed', owner: clone(owner), leaseUntil });
        crash('claim', 'after');
        return { claimed: true };
      },
      async settleClaimed(ref, owner, outcomes, settledBy): Promise<SettleResult> {
        crash('settle', 'before');
        const entry = world.ledger.get(ref.chunkId);
        if (entry?.state !== 'claimed' || entry.owner?.token !== owner.token) {
          return { settled: false, entry: entry && clone(entry) };
        }
        world.ledger.set(ref.chunkId, { state: 'settling', outcomes: clone(outcomes), settledBy });
        crash('settle', 'after');
        return { settled: true };
      },
      async settleUnclaimed(ref, outcomes, settledBy, from): Promise<SettleResult> {
        const entry = world.ledger.get(ref.chunkId);
        if (entry) return { settled: false, entry: clone(entry) };
        world.ledger.set(ref.chunkId, {
          state: 'settling',
          outcomes: clone(outcomes),
          settledBy,
          ...(from === 'pending' ? { from } : {}),
        });
        return { settled: true };
      },
      async read(ref) {
        const entry = world.ledger.get(ref.chunkId);
        return entry && clone(entry);
      },
      async release(ref, owner) {
        const entry = world.ledger.get(ref.chunkId);
        if (entry?.state === 'claimed' && entry.owner?.token === owner.token)
          world.ledger.delete(ref.chunkId);
      },
      async count(ref, delta: CountDelta) {
        crash('count', 'before');
        const entry = world.ledger.get(ref.chunkId);
        if (entry?.state !== 'settling') return false;
        entry.state = 'done';
        for (const [status, n] of Object.entries(delta)) {
          world.campaign.counts[status as keyof RecipientCounts] += n ?? 0;
        }
        crash('count', 'after');
        return true;
      },
    },
    recipients: {
      async project(_ref, outcomes: readonly ChunkOutcome[]) {
        crash('project', 'before');
        for (const o of outcomes)
          world.recipients.set(o.userId, { status: o.status, ...(o.error ? { error: o.error } : {}) });
        crash('project', 'after');
      },
    },
    campaigns: {
      async progress() {
        return clone(world.campaign);
      },
      async finish(_storeId, _campaignId, status) {
        if (world.campaign.status === 'sending') world.campaign.status = status;
      },
    },
    templates: { find: async () => options.template },
    channels: { channelFor: async () => channel },
    clock: { now: () => world.clock.ms },
    // Waiting moves the fake clock, and lets a test's owner finish meanwhile.
    async sleep(ms) {
      world.clock.ms += ms;
      await world.onSleep?.();
    },
    newToken: () => `token-${++tokens}`,
  };
  return world;
}
