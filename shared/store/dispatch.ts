/**
 * The send function's per-shard dispatch checkpoints (docs/delivery.md, Dispatch).
 *
 * | item       | pk            | sk                              | holds                                                       |
 * |------------|---------------|---------------------------------|-------------------------------------------------------------|
 * | checkpoint | `APP#<appId>` | `DISPATCH#<campaignId>#<shard>` | `lastKey`: sk of the last recipient on the queue (or swept) |
 *
 * A checkpoint only moves from the value its writer read (a conditional write), so two
 * runs of the send function, or a dispatch and a cancel's sweep, never both take a page.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GetCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import {
  handlerTable,
  isTransactionCanceled,
  isTransientCancellation,
  type Table,
  transactWrite,
} from '#shared/adapters/dynamodb.ts';
import { CheckpointMovedError } from '#shared/domain/delivery-ledger.ts';
import { appPk, recipientPk } from '#shared/domain/keys.ts';
import { backoffDelay } from '#shared/retry.ts';
import { createCampaignsStore } from './campaigns.ts';
import type { RecipientItem } from './recipients.ts';

const checkpointSk = (campaignId: string, shard: number) => `DISPATCH#${campaignId}#${shard}`;

/** Transient cancellations (conflict, throttling) after which a sweep's page transaction is sent again. */
const SWEEP_TRANSIENT_RETRIES = 5;

/** `TransactionConflict, None, None`: the reasons of a cancelled transaction, one per item. */
function reasonsOf(error: unknown): string {
  const reasons = (error as { CancellationReasons?: { Code?: string }[] } | undefined)?.CancellationReasons;
  return reasons?.map((reason) => reason.Code ?? 'None').join(', ') ?? 'no reason given';
}

/** Backoff of a sweep's transaction cancelled by a conflict or throttling: waits below 20, 40, … 1,280 ms. */
const SWEEP_BACKOFF = { baseDelayMs: 20, maxDelayMs: 1280 };

/** One chunk of a page a cancel's sweep settles. */
export interface SweptChunk {
  userIds: readonly string[];
  /** Its ledger item, `settling` as skipped (`settlingItem` of shared/store/ledger.ts). */
  item: Record<string, unknown>;
}

/** The dispatch checkpoints store on `table`. */
export function createDispatchStore(table: Table) {
  const campaigns = createCampaignsStore(table);

  /** The sort key of the last recipient of `shard` put on the queue (or swept), if any. */
  async function readCheckpoint(
    appId: string,
    campaignId: string,
    shard: number,
  ): Promise<string | undefined> {
    const { Item } = await table.client.send(
      new GetCommand({
        TableName: table.tableName,
        Key: { pk: appPk(appId), sk: checkpointSk(campaignId, shard) },
        ConsistentRead: true,
      }),
    );
    return Item?.lastKey as string | undefined;
  }

  /** Up to `limit` recipients of `shard` after the sort key `afterSk`, in key order. */
  async function recipientsAfter(
    appId: string,
    campaignId: string,
    shard: number,
    afterSk: string | undefined,
    limit: number,
  ): Promise<RecipientItem[]> {
    const pk = recipientPk(appId, campaignId, shard);
    const { Items = [] } = await table.client.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ExclusiveStartKey: afterSk === undefined ? undefined : { pk, sk: afterSk },
        Limit: limit,
      }),
    );
    return Items as RecipientItem[];
  }

  function checkpointUpdate(
    appId: string,
    campaignId: string,
    shard: number,
    previous: string | undefined,
    next: string,
  ) {
    return {
      TableName: table.tableName,
      Key: { pk: appPk(appId), sk: checkpointSk(campaignId, shard) },
      UpdateExpression: 'SET lastKey = :next, updatedAt = :now',
      ConditionExpression: previous === undefined ? 'attribute_not_exists(lastKey)' : 'lastKey = :previous',
      ExpressionAttributeValues: {
        ':next': next,
        ':now': new Date().toISOString(),
        ...(previous === undefined ? {} : { ':previous': previous }),
      },
    };
  }

  /**
   * After a page of `shard` is on the queue: moves the checkpoint from `previous` to
   * `next` and moves `queued` recipients from the shard's `pending` count to its `queued`
   * count, in one transaction, so the counters move exactly once per page.
   *
   * @throws CheckpointMovedError when the checkpoint is no longer at `previous`.
   */
  async function commitDispatchedPage(
    appId: string,
    campaignId: string,
    shard: number,
    previous: string | undefined,
    next: string,
    queued: number,
  ): Promise<void> {
    try {
      // A conflict or throttling is sent again; a failed condition on the checkpoint means it moved.
      await transactWrite(
        {
          TransactItems: [
            { Update: checkpointUpdate(appId, campaignId, shard, previous, next) },
            campaigns.countsUpdate(appId, campaignId, shard, { queued, pending: -queued }),
          ],
        },
        table.client,
      );
    } catch (error) {
      if (isTransactionCanceled(error) && error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') {
        throw new CheckpointMovedError(`dispatch checkpoint of shard ${shard} moved`, { cause: error });
      }
      throw error;
    }
  }

  /**
   * For a cancelled campaign: takes the page of `shard` after `previous` (ending at
   * `next`) from dispatch, in one transaction that moves the checkpoint and puts each of
   * the page's chunks in the ledger as `settling` (skipped, counted from `pending`: nobody
   * ever counted them queued). A chunk that has a ledger item already was put on the queue
   * by a dispatch that never committed its page, and settled from `queued` by whoever
   * got it: the same transaction moves its recipients from `pending` to `queued`, so the
   * counters end exact. Returns the chunks this sweep put (to be projected and counted).
   *
   * A cancellation no retry can fix (no condition failed, no conflict nor throttling) is
   * thrown at once. A conflict or throttling is sent again with backoff, and chunks already
   * in the ledger are dropped from the next attempt, at most `chunks.length +
   * SWEEP_TRANSIENT_RETRIES + 1` attempts in all: then an error naming the last
   * cancellation's reasons (and keeping it as its cause).
   *
   * @throws CheckpointMovedError when the checkpoint is no longer at `previous`.
   */
  async function sweepPage(
    appId: string,
    campaignId: string,
    shard: number,
    previous: string | undefined,
    next: string,
    chunks: readonly SweptChunk[],
  ): Promise<SweptChunk[]> {
    let fresh = [...chunks];
    let taken: SweptChunk[] = [];
    // Each attempt that finds chunks in the ledger drops at least one; the others are transient.
    const attempts = chunks.length + SWEEP_TRANSIENT_RETRIES + 1;
    let lastCancellation: unknown;
    for (let attempt = 0; attempt < attempts; attempt += 1) {
      const corrected = taken.reduce((n, c) => n + c.userIds.length, 0);
      try {
        await table.client.send(
          new TransactWriteCommand({
            TransactItems: [
              { Update: checkpointUpdate(appId, campaignId, shard, previous, next) },
              campaigns.countsUpdate(appId, campaignId, shard, { pending: -corrected, queued: corrected }),
              ...fresh.map((chunk) => ({
                Put: {
                  TableName: table.tableName,
                  Item: chunk.item,
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              })),
            ],
          }),
        );
        return fresh;
      } catch (error) {
        if (!isTransactionCanceled(error)) throw error;
        const reasons = error.CancellationReasons ?? [];
        if (reasons[0]?.Code === 'ConditionalCheckFailed') {
          throw new CheckpointMovedError(`dispatch checkpoint of shard ${shard} moved`, { cause: error });
        }
        const exists = new Set(
          reasons.flatMap((reason, i) => (i >= 2 && reason.Code === 'ConditionalCheckFailed' ? [i - 2] : [])),
        );
        if (exists.size === 0 && !isTransientCancellation(error)) throw error;
        lastCancellation = error;
        if (exists.size > 0) {
          taken = [...taken, ...fresh.filter((_, i) => exists.has(i))];
          fresh = fresh.filter((_, i) => !exists.has(i));
        } else {
          // A conflict or throttling: nothing was written; try the same again.
          await sleep(backoffDelay(attempt + 1, SWEEP_BACKOFF, Math.random()));
        }
      }
    }
    throw new Error(
      `sweep of shard ${shard}: the page's transaction was cancelled ${attempts} times in a row, the last time by ${reasonsOf(lastCancellation)}; nothing of the page was written and its checkpoint did not move`,
      { cause: lastCancellation },
    );
  }

  return { readCheckpoint, recipientsAfter, commitDispatchedPage, sweepPage };
}

export type DispatchStore = ReturnType<typeof createDispatchStore>;

/** The dispatch checkpoints store on the handlers' table. */
export const { readCheckpoint, recipientsAfter, commitDispatchedPage, sweepPage } =
  createDispatchStore(handlerTable);
