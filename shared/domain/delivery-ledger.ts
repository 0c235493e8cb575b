/**
 * The delivery ledger's vocabulary: a chunk's key, who claims it, and what it records.
 * The ledger itself is `shared/store/ledger.ts`; the engine that moves it is
 * `shared/delivery/deliver.ts` (docs/delivery.md, "The delivery ledger").
 */
import type { CampaignStatus, RecipientStatus } from '#shared/domain/model.ts';

/** Where a chunk's ledger item and counters live. */
export interface ChunkRef {
  /** The app id the campaign is stored under (`storeAppId`). */
  storeId: string;
  campaignId: string;
  /** The chunk's first user id. */
  chunkId: string;
  /** The recipient shard of the chunk's users: the counter shard its outcome moves. */
  shard: number;
}

/** Who holds a claim: one receive of one SQS message. */
export interface Owner {
  /** Random per attempt: tells this receive's own write, resent by the SDK, from another's. */
  token: string;
  messageId: string;
  receiveCount: number;
}

/** A recipient's outcome as the ledger stores it. */
export interface ChunkOutcome {
  userId: string;
  status: 'sent' | 'failed' | 'skipped';
  error?: string;
}

export interface LedgerEntry {
  state: 'claimed' | 'settling' | 'done';
  owner?: Owner;
  /** Epoch ms after which the owner is certainly gone (its function has timed out). */
  leaseUntil?: number;
  outcomes?: ChunkOutcome[];
  /** The token of the write that settled it. */
  settledBy?: string;
  /**
   * The count its recipients leave when counted: `queued` (they were dispatched), or
   * `pending` (a cancel's sweep settled them before they were ever put on the queue).
   */
  from?: 'queued' | 'pending';
}

export type ClaimResult =
  | { claimed: true }
  /** The chunk has a ledger item already. */
  | { claimed: false; entry: LedgerEntry }
  /** No item, and the campaign is not `sending` (or is gone: `missing`). */
  | { claimed: false; campaignStatus: CampaignStatus | 'missing' };

export type SettleResult = { settled: true } | { settled: false; entry: LedgerEntry | undefined };

/** A change of a campaign's counters: recipients moved from one status to another. */
export type CountDelta = Partial<Record<RecipientStatus, number>>;

/** A dispatch checkpoint moved under its writer: another run of the send function, or a sweep, got there first. */
export class CheckpointMovedError extends Error {}
