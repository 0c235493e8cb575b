/**
 * Dispatch: the send function's core, pure over its ports (docs/delivery.md, "The send
 * function"). Started with a campaign:
 *
 * - `scheduled` → moved to `sending` (the schedule fired), then dispatched;
 * - `sending` → dispatched, resuming from the per-shard checkpoints;
 * - `cancelled` → the recipients never put on the queue are settled `skipped`;
 * - anything else → nothing to do.
 *
 * Dispatch reads every shard in parallel, page by page (the next page is read while the
 * current one is sent), packs a page into whole messages of its own, each cut into
 * chunks of the channel's batch size, sends them with `SendMessageBatch`, then commits
 * the shard's checkpoint and counters in one transaction. A run that dies between
 * sending a page and committing it sends that one page again when it runs again; the
 * chunks' ledger items make the repeat harmless.
 *
 * The sweep of a cancelled campaign reads the same pages from the same checkpoints and
 * packs them the same way, so its chunks are the very chunks a dispatch would have
 * sent: each page's chunks are put in the ledger as skipped in one transaction with the
 * checkpoint's move, then projected and counted.
 */
import pLimit from 'p-limit';
import {
  chunksOf,
  type DeliveryBatchHeader,
  DeliveryBatchPacker,
  type DeliveryChunk,
  parseDeliveryBatch,
  RecipientTooLargeError,
  type SendBatchEntry,
  SendBatchGrouper,
} from '#shared/domain/delivery-batches.ts';
import { CheckpointMovedError, type LedgerEntry } from '#shared/domain/delivery-ledger.ts';
import type { Campaign, CampaignStatus, VariableValue } from '#shared/domain/model.ts';
import { NOTIFICATION_ID_PREFIX, storeAppId } from '#shared/domain/sending.ts';
import type { Clock } from './ports.ts';

/** A recipient as dispatch reads it from its shard. */
export interface PageRecipient {
  /** Its sort key within the shard: what a checkpoint holds. */
  sk: string;
  userId: string;
  variables: Record<string, VariableValue>;
}

export interface DispatchPorts {
  campaigns: {
    /** The campaign as stored now, or undefined. */
    read(storeId: string, campaignId: string): Promise<Campaign | undefined>;
    /** Its status as stored now (a cheap read, between pages). */
    status(storeId: string, campaignId: string): Promise<CampaignStatus | undefined>;
    /** `scheduled` → `sending`; the campaign as it is after (another run may have moved it). */
    startScheduled(storeId: string, campaignId: string): Promise<Campaign | undefined>;
    /** Stores `size` as the campaign's chunk size unless it has one; the one it has after. */
    fixChunkSize(storeId: string, campaignId: string, size: number): Promise<number>;
  };
  checkpoints: {
    read(storeId: string, campaignId: string, shard: number): Promise<string | undefined>;
    /** Moves the checkpoint and the counters (`pending` → `queued`); CheckpointMovedError if it moved. */
    commit(
      storeId: string,
      campaignId: string,
      shard: number,
      previous: string | undefined,
      next: string,
      queued: number,
    ): Promise<void>;
    /**
     * Moves the checkpoint and puts the page's chunks in the ledger as skipped, at once;
     * returns the chunks it put (the others had a ledger item). CheckpointMovedError if it moved.
     */
    sweep(
      storeId: string,
      campaignId: string,
      shard: number,
      previous: string | undefined,
      next: string,
      chunks: readonly DeliveryChunk[],
    ): Promise<DeliveryChunk[]>;
  };
  /**
   * The most recipients one chunk of the app's deliveries may hold now: its destination's
   * batch size (its webhook's `batchSize`, or the default's), and no more than its bucket's
   * burst when the destination is paced.
   */
  destinations: { chunkLimit(appId: string): Promise<number> };
  recipients: {
    /** Up to `limit` recipients of `shard` after the sort key `afterSk`, in key order. */
    after(
      storeId: string,
      campaignId: string,
      shard: number,
      afterSk: string | undefined,
      limit: number,
    ): Promise<PageRecipient[]>;
    /** Rewrites dispatched recipients `pending` → `queued` (when `markQueued` is on). */
    markQueued(
      storeId: string,
      campaignId: string,
      shard: number,
      page: readonly PageRecipient[],
    ): Promise<void>;
  };
  /** Sends one `SendMessageBatch`, resending only failed entries. */
  queue: { send(entries: readonly SendBatchEntry[]): Promise<void> };
  /** The ledger's side of a sweep: chunks left `settling`, and finishing one. */
  ledger: {
    settling(storeId: string, campaignId: string): Promise<{ chunkId: string; entry: LedgerEntry }[]>;
    variablesOf(
      storeId: string,
      campaignId: string,
      userIds: readonly string[],
    ): Promise<Map<string, Record<string, VariableValue>>>;
    finishSwept(storeId: string, campaignId: string, chunk: DeliveryChunk): Promise<void>;
    /**
     * Settles, counted from `pending`, a recipient no message can carry (a chunk of its
     * own, never on the queue): `failed` with `reason`, or `skipped` for a sweep. Once:
     * a second call finds its ledger item. Ends the campaign when it was the last.
     */
    settleUnqueued(
      storeId: string,
      campaignId: string,
      chunk: DeliveryChunk,
      outcome: { status: 'failed'; error: string } | { status: 'skipped' },
    ): Promise<void>;
    finishSettling(
      storeId: string,
      campaignId: string,
      chunk: DeliveryChunk,
      entry: LedgerEntry,
    ): Promise<void>;
  };
  clock: Clock;
}

export interface DispatchOptions {
  shards: number;
  /** Recipients per page, and per checkpoint. */
  pageSize: number;
  /** Shards read and sent at once. */
  shardConcurrency: number;
  /** Most recipients per chunk; a destination with a smaller batch size gets chunks of its size. */
  chunkSize: number;
  markQueued: boolean;
  /** How long a read of the campaign's status is reused by the between-pages check. */
  statusTtlMs?: number;
}

export interface SendResult {
  /** What the run did: dispatched, swept a cancelled campaign, or nothing. */
  action: 'dispatched' | 'swept' | 'none';
  enqueuedRecipients: number;
  enqueuedMessages: number;
  skipped: number;
  /** Recipients no message could carry, settled `failed` (stored before the size rule). */
  failedTooLarge: number;
}

/** Runs `work` for shards 0..n-1, at most `limit` at once. */
async function forEachShard(shards: number, limit: number, work: (shard: number) => Promise<void>) {
  await pLimit(limit).map(
    Array.from({ length: shards }, (_, shard) => shard),
    work,
  );
}

function headerOf(appId: string, campaign: Campaign, chunkSize: number): DeliveryBatchHeader {
  return campaign.id.startsWith(NOTIFICATION_ID_PREFIX)
    ? { kind: 'notification', appId, notificationId: campaign.id, templateId: campaign.templateId, chunkSize }
    : { kind: 'campaign', appId, campaignId: campaign.id, templateId: campaign.templateId, chunkSize };
}

/**
 * The message bodies of one page: whole messages of its own, so a checkpoint falls between
 * messages; and the recipients no message can carry (stored before the size rule of
 * `MAX_VARIABLES_BYTES`), each to be settled on its own rather than fail every run.
 */
function packPage(
  header: DeliveryBatchHeader,
  page: readonly PageRecipient[],
): { bodies: string[]; tooLarge: { chunk: DeliveryChunk; error: string }[] } {
  const packer = new DeliveryBatchPacker(header);
  const bodies: string[] = [];
  const tooLarge: { chunk: DeliveryChunk; error: string }[] = [];
  for (const recipient of page) {
    const one = { userId: recipient.userId, variables: recipient.variables };
    let body: string | undefined;
    try {
      body = packer.add(one);
    } catch (error) {
      if (!(error instanceof RecipientTooLargeError)) throw error;
      // A chunk of its own, named by its user id like every chunk: the same on every run.
      tooLarge.push({ chunk: { id: recipient.userId, recipients: [one] }, error: error.message });
      continue;
    }
    if (body !== undefined) bodies.push(body);
  }
  const last = packer.flush();
  if (last !== undefined) bodies.push(last);
  return { bodies, tooLarge };
}

/** Builds the dispatch core over `ports`. */
export function createDispatcher(ports: DispatchPorts, options: DispatchOptions) {
  const statusTtlMs = options.statusTtlMs ?? 250;

  /**
   * The campaign's chunk size: fixed by its first dispatch to its app's destination chunk
   * limit then. A dispatch that resends a page after a crash, or a sweep, must cut the very
   * chunks the first run sent, whatever the destination became meanwhile.
   */
  async function chunkSizeOf(appId: string, storeId: string, campaign: Campaign): Promise<number> {
    if (campaign.chunkSize !== undefined) return campaign.chunkSize;
    const wanted = Math.min(options.chunkSize, await ports.destinations.chunkLimit(appId));
    return ports.campaigns.fixChunkSize(storeId, campaign.id, wanted);
  }

  async function dispatch(
    storeId: string,
    campaign: Campaign,
    header: DeliveryBatchHeader,
    result: SendResult,
  ) {
    let statusReadAt = Number.NEGATIVE_INFINITY;
    let cancelled = false;
    let reading: Promise<void> | undefined;
    const stillSending = async () => {
      if (!cancelled && ports.clock.now() - statusReadAt > statusTtlMs) {
        reading ??= ports.campaigns.status(storeId, campaign.id).then((status) => {
          statusReadAt = ports.clock.now();
          cancelled = status !== 'sending';
          reading = undefined;
        });
        await reading;
      }
      return !cancelled;
    };
    const read = (shard: number, after: string | undefined) => {
      const page = ports.recipients.after(storeId, campaign.id, shard, after, options.pageSize);
      // Read ahead; a page abandoned (a moved checkpoint, a cancel) must not be an unhandled rejection.
      page.catch(() => undefined);
      return page;
    };

    await forEachShard(options.shards, options.shardConcurrency, async (shard) => {
      let previous = await ports.checkpoints.read(storeId, campaign.id, shard);
      let next = read(shard, previous);
      for (;;) {
        if (!(await stillSending())) return;
        const page = await next;
        const last = page.at(-1);
        if (!last) return;
        next = read(shard, last.sk);
        const { bodies, tooLarge } = packPage(header, page);
        // Settled before the page commits: a run that dies in between settles them again (once).
        for (const { chunk, error } of tooLarge) {
          await ports.ledger.settleUnqueued(storeId, campaign.id, chunk, { status: 'failed', error });
          result.failedTooLarge += 1;
        }
        const grouper = new SendBatchGrouper();
        const calls: SendBatchEntry[][] = [];
        for (const body of bodies) {
          result.enqueuedMessages += 1;
          const entries = grouper.add(body);
          if (entries) calls.push(entries);
        }
        const rest = grouper.flush();
        if (rest) calls.push(rest);
        await Promise.all(calls.map((entries) => ports.queue.send(entries)));
        if (options.markQueued) await ports.recipients.markQueued(storeId, campaign.id, shard, page);
        try {
          const queued = page.length - tooLarge.length;
          await ports.checkpoints.commit(storeId, campaign.id, shard, previous, last.sk, queued);
          previous = last.sk;
          result.enqueuedRecipients += queued;
        } catch (error) {
          if (!(error instanceof CheckpointMovedError)) throw error;
          // Another run (or a sweep) moved on: carry on from where it got to.
          previous = await ports.checkpoints.read(storeId, campaign.id, shard);
          next = read(shard, previous);
        }
      }
    });
    return cancelled;
  }

  /**
   * Finishes every chunk of the campaign left `settling`: by a sweep that stopped between
   * a page's transaction and its count, or whose transaction landed while its answer was
   * lost (it then found the checkpoint moved, by itself).
   */
  async function finishSettling(storeId: string, campaignId: string, result: SendResult) {
    for (const { chunkId, entry } of await ports.ledger.settling(storeId, campaignId)) {
      const userIds = (entry.outcomes ?? []).map((o) => o.userId);
      const variables = await ports.ledger.variablesOf(storeId, campaignId, userIds);
      const recipients = userIds.map((userId) => ({ userId, variables: variables.get(userId) ?? {} }));
      await ports.ledger.finishSettling(storeId, campaignId, { id: chunkId, recipients }, entry);
      if (entry.from === 'pending') result.skipped += recipients.length;
    }
  }

  async function sweep(storeId: string, campaign: Campaign, header: DeliveryBatchHeader, result: SendResult) {
    await finishSettling(storeId, campaign.id, result);
    await forEachShard(options.shards, options.shardConcurrency, async (shard) => {
      let previous = await ports.checkpoints.read(storeId, campaign.id, shard);
      for (;;) {
        const page = await ports.recipients.after(storeId, campaign.id, shard, previous, options.pageSize);
        const last = page.at(-1);
        if (!last) return;
        // The very chunks a dispatch of this page sends: same page, same packing.
        const { bodies, tooLarge } = packPage(header, page);
        const chunks = bodies.flatMap((body) => chunksOf(parseDeliveryBatch(body)));
        // One a dispatch of this page settled `failed` already keeps that (its ledger item).
        for (const { chunk } of tooLarge) {
          await ports.ledger.settleUnqueued(storeId, campaign.id, chunk, { status: 'skipped' });
        }
        try {
          const put = await ports.checkpoints.sweep(storeId, campaign.id, shard, previous, last.sk, chunks);
          previous = last.sk;
          for (const chunk of put) {
            await ports.ledger.finishSwept(storeId, campaign.id, chunk);
            result.skipped += chunk.recipients.length;
          }
        } catch (error) {
          if (!(error instanceof CheckpointMovedError)) throw error;
          previous = await ports.checkpoints.read(storeId, campaign.id, shard);
        }
      }
    });
    await finishSettling(storeId, campaign.id, result);
  }

  return {
    /** Sends, resumes or sweeps the campaign (see the module comment). */
    async sendCampaign(
      appId: string,
      campaignId: string,
    ): Promise<{ result: SendResult; status?: CampaignStatus }> {
      const result: SendResult = {
        action: 'none',
        enqueuedRecipients: 0,
        enqueuedMessages: 0,
        skipped: 0,
        failedTooLarge: 0,
      };
      const storeId = storeAppId(appId, campaignId);
      let campaign = await ports.campaigns.read(storeId, campaignId);
      if (campaign?.status === 'scheduled')
        campaign = await ports.campaigns.startScheduled(storeId, campaignId);
      if (!campaign) return { result };
      let cancelled = campaign.status === 'cancelled';
      if (campaign.status !== 'sending' && !cancelled) return { result, status: campaign.status };
      // One chunk size for the dispatch and the sweep that may follow it.
      const header = headerOf(appId, campaign, await chunkSizeOf(appId, storeId, campaign));
      if (campaign.status === 'sending') {
        result.action = 'dispatched';
        cancelled = await dispatch(storeId, campaign, header, result);
      }
      if (cancelled) {
        result.action = 'swept';
        await sweep(storeId, campaign, header, result);
      }
      return { result, status: campaign.status };
    },
  };
}
