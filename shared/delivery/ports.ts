/**
 * The delivery engine's ports: what the dispatch and deliver cores need from the world,
 * as interfaces, so the cores are pure over them (the way `importUpload(ports)` works).
 * The deployed system plugs in DynamoDB, SQS and the configured channel
 * (`shared/delivery/aws-ports.ts`); the unit tests plug in memory.
 */
import type { CampaignProgress } from '#shared/domain/campaign-outcome.ts';
import type { DeliveryChannel } from '#shared/domain/channel.ts';
import type { DeliveryBatch } from '#shared/domain/delivery-batches.ts';
import type {
  ChunkOutcome,
  ChunkRef,
  ClaimResult,
  CountDelta,
  LedgerEntry,
  Owner,
  SettleResult,
} from '#shared/domain/delivery-ledger.ts';
import type { PaceLimit } from '#shared/domain/destinations.ts';
import type { CampaignStatus, Template, VariableValue } from '#shared/domain/model.ts';
import type { Pacer } from './pacing.ts';

export type * from '#shared/domain/delivery-ledger.ts';

/** The recipient ledger: one item per chunk, every move conditional. */
export interface DeliveryLedger {
  /** Claims the chunk: only while the campaign is `sending`, and only if no item exists. */
  claim(ref: ChunkRef, owner: Owner, leaseUntil: number): Promise<ClaimResult>;
  /** `claimed` by `owner` → `settling` with `outcomes`. */
  settleClaimed(
    ref: ChunkRef,
    owner: Owner,
    outcomes: ChunkOutcome[],
    settledBy: string,
  ): Promise<SettleResult>;
  /** No item → `settling` with `outcomes` (a chunk that is not delivered), counted from `from`. */
  settleUnclaimed(
    ref: ChunkRef,
    outcomes: ChunkOutcome[],
    settledBy: string,
    from: 'queued' | 'pending',
  ): Promise<SettleResult>;
  /** `claimed` by `owner` → no item, so a later receive may claim it again. */
  release(ref: ChunkRef, owner: Owner): Promise<void>;
  /** The chunk's item as stored now (strongly consistent). */
  read(ref: ChunkRef): Promise<LedgerEntry | undefined>;
  /** `settling` → `done` and `delta` added to the counters, at once; false when already done. */
  count(ref: ChunkRef, delta: CountDelta): Promise<boolean>;
}

/** A recipient's stored status, written from the ledger's outcomes (idempotent). */
export interface RecipientStatuses {
  project(
    ref: ChunkRef,
    outcomes: readonly (ChunkOutcome & { variables: Record<string, VariableValue> })[],
  ): Promise<void>;
}

/** The campaigns the engine reads and ends. */
export interface Campaigns {
  /** The campaign's status and counters as stored now (strongly consistent). */
  progress(storeId: string, campaignId: string): Promise<CampaignProgress | undefined>;
  /** `sending` → `status`, once; a campaign no longer `sending` is left as it is. */
  finish(storeId: string, campaignId: string, status: CampaignStatus, completedAt: string): Promise<void>;
}

export interface Templates {
  find(appId: string, templateId: string): Promise<Template | undefined>;
}

/** The channel each app's deliveries go through (its own destination, or the deployment's default). */
export interface Channels {
  channelFor(appId: string): Promise<DeliveryChannel>;
  /** The pace of the app's deliveries now; undefined (or no method) when nothing limits them. */
  paceFor?(appId: string): Promise<PaceLimit | undefined>;
}

/** The token buckets of paced destinations. */
export type { Pacer };

/** What paces deliveries: the buckets, and the queue a message waiting for tokens goes back on. */
export interface Pacing {
  pacer: Pacer;
  /**
   * Puts `batch` (the chunks still waiting for tokens) back on the queue, received again
   * after `delaySeconds`: a new message, so a wait for tokens never counts as a failed receive.
   */
  requeue(batch: DeliveryBatch, delaySeconds: number): Promise<void>;
}

export interface Clock {
  now(): number;
}

/** Everything the deliver core needs. */
export interface DeliverPorts {
  ledger: DeliveryLedger;
  recipients: RecipientStatuses;
  campaigns: Campaigns;
  templates: Templates;
  channels: Channels;
  /** Absent: nothing is paced (the send function, which delivers nothing itself). */
  pacing?: Pacing;
  clock: Clock;
  /** Waits `ms` (a short poll of a chunk another receive is delivering). */
  sleep(ms: number): Promise<void>;
  /** A new owner token (random). */
  newToken(): string;
}
