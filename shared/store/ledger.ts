/**
 * The delivery ledger: one item per delivery chunk, the record that decides, once, what
 * happened to a chunk's recipients (docs/delivery.md, "The delivery ledger").
 *
 * | item  | pk            | sk                              | holds                                          |
 * |-------|---------------|---------------------------------|------------------------------------------------|
 * | chunk | `APP#<appId>` | `CHUNK#<campaignId>#<chunkId>`  | `state`, `owner`, `leaseUntil`, `outcomes`     |
 *
 * States: `claimed` (a receive owns it and may be calling the channel) → `settling`
 * (the outcomes are decided and stored; anyone may finish it) → `done` (counted). A
 * chunk that is never delivered (a cancelled campaign, a last receive out of time) goes
 * straight to `settling`. Every move is a conditional write, so each chunk is delivered
 * by at most one receive and counted exactly once.
 */
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import {
  type CancellationReason,
  handlerTable,
  isConditionalCheckFailed,
  isTransactionCanceled,
  isTransactionConditionFailed,
  type Table,
  transactWrite,
} from '#shared/adapters/dynamodb.ts';
import type {
  ChunkOutcome,
  ChunkRef,
  ClaimResult,
  CountDelta,
  LedgerEntry,
  Owner,
  SettleResult,
} from '#shared/domain/delivery-ledger.ts';
import { appPk, campaignSk } from '#shared/domain/keys.ts';
import type { CampaignStatus } from '#shared/domain/model.ts';
import { createCampaignsStore } from './campaigns.ts';

/** Ledger items outlive their messages: the queue keeps one 4 days, the DLQ 14, a redrive restarts it. */
const LEDGER_TTL_SECONDS = 30 * 24 * 3600;

const chunkKey = (ref: ChunkRef) => ({
  pk: appPk(ref.storeId),
  sk: `CHUNK#${ref.campaignId}#${ref.chunkId}`,
});
const expiresAt = () => Math.floor(Date.now() / 1000) + LEDGER_TTL_SECONDS;

function entryOf(item: Record<string, unknown> | undefined, low: boolean): LedgerEntry | undefined {
  if (!item) return undefined;
  const plain = (low ? unmarshall(item as Parameters<typeof unmarshall>[0]) : item) as Record<
    string,
    unknown
  >;
  return {
    state: plain.state as LedgerEntry['state'],
    ...(plain.owner === undefined ? {} : { owner: plain.owner as Owner }),
    ...(plain.leaseUntil === undefined ? {} : { leaseUntil: Number(plain.leaseUntil) }),
    ...(plain.outcomes === undefined ? {} : { outcomes: plain.outcomes as ChunkOutcome[] }),
    ...(plain.settledBy === undefined ? {} : { settledBy: plain.settledBy as string }),
    ...(plain.from === 'pending' ? { from: 'pending' as const } : {}),
  };
}

/**
 * A settle whose condition failed: the item as it is, unless it is settled by this very
 * write (`settledBy`), landed before the SDK sent it again. Any other error is thrown.
 */
function settleRefused(error: unknown, settledBy: string): SettleResult {
  if (!isConditionalCheckFailed(error)) throw error;
  const entry = entryOf((error as { Item?: Record<string, unknown> }).Item, true);
  if (entry && entry.state !== 'claimed' && entry.settledBy === settledBy) return { settled: true };
  return { settled: false, entry };
}

/** A chunk's ledger item, `settling` with `outcomes` (for `settleUnclaimed` and a cancel's sweep). */
export function settlingItem(
  ref: ChunkRef,
  outcomes: readonly ChunkOutcome[],
  settledBy: string,
  from: 'queued' | 'pending',
): Record<string, unknown> {
  return {
    ...chunkKey(ref),
    state: 'settling',
    outcomes,
    settledBy,
    from,
    settledAt: new Date().toISOString(),
    expiresAt: expiresAt(),
  };
}

/**
 * The ledger (`DeliveryLedger` of shared/delivery/ports.ts) on `table`, and the chunks of a
 * campaign left `settling` (a cancel's sweep reads them).
 */
export function createDynamoLedger(table: Table) {
  const campaigns = createCampaignsStore(table);

  /**
   * Sends a transaction with the table's one rule for cancellations (`transactWrite`): one
   * cancelled by a `TransactionConflict` or throttling, even beside a failed condition,
   * is sent again with backoff, and thrown when it stays cancelled; one cancelled by
   * failed conditions alone (`isTransactionConditionFailed`) is handed to `onCondition`;
   * anything else (a `ValidationError`…) is thrown at once.
   */
  async function transact<T>(
    items: NonNullable<TransactWriteCommandInput['TransactItems']>,
    onCondition: (reasons: CancellationReason[]) => T,
    ok: T,
  ): Promise<T> {
    try {
      await transactWrite({ TransactItems: items }, table.client);
      return ok;
    } catch (error) {
      if (!isTransactionConditionFailed(error) || !isTransactionCanceled(error)) throw error;
      return onCondition(error.CancellationReasons ?? []);
    }
  }

  return {
    async claim(ref: ChunkRef, owner: Owner, leaseUntil: number): Promise<ClaimResult> {
      return transact<ClaimResult>(
        [
          {
            ConditionCheck: {
              TableName: table.tableName,
              Key: { pk: appPk(ref.storeId), sk: campaignSk(ref.campaignId) },
              ConditionExpression: '#status = :sending',
              ExpressionAttributeNames: { '#status': 'status' },
              ExpressionAttributeValues: { ':sending': 'sending' },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
          {
            Put: {
              TableName: table.tableName,
              Item: {
                ...chunkKey(ref),
                state: 'claimed',
                owner,
                leaseUntil,
                claimedAt: new Date().toISOString(),
                expiresAt: expiresAt(),
              },
              ConditionExpression: 'attribute_not_exists(pk)',
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
        ],
        ([campaign, chunk]) => {
          if (chunk?.Code === 'ConditionalCheckFailed') {
            const entry = entryOf(chunk.Item, true) as LedgerEntry;
            // This very claim, landed before the SDK sent it again.
            if (entry.state === 'claimed' && entry.owner?.token === owner.token) return { claimed: true };
            return { claimed: false, entry };
          }
          const status = (
            campaign?.Item ? unmarshall(campaign.Item as Parameters<typeof unmarshall>[0]) : undefined
          )?.status as CampaignStatus | undefined;
          return { claimed: false, campaignStatus: status ?? 'missing' };
        },
        { claimed: true },
      );
    },

    async settleClaimed(
      ref: ChunkRef,
      owner: Owner,
      outcomes: ChunkOutcome[],
      settledBy: string,
    ): Promise<SettleResult> {
      try {
        await table.client.send(
          new UpdateCommand({
            TableName: table.tableName,
            Key: chunkKey(ref),
            UpdateExpression:
              'SET #state = :settling, outcomes = :outcomes, settledBy = :by, settledAt = :now',
            ConditionExpression: '#state = :claimed AND #owner.#token = :token',
            ExpressionAttributeNames: { '#state': 'state', '#owner': 'owner', '#token': 'token' },
            ExpressionAttributeValues: {
              ':settling': 'settling',
              ':claimed': 'claimed',
              ':outcomes': outcomes,
              ':by': settledBy,
              ':token': owner.token,
              ':now': new Date().toISOString(),
            },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return { settled: true };
      } catch (error) {
        return settleRefused(error, settledBy);
      }
    },

    async settleUnclaimed(
      ref: ChunkRef,
      outcomes: ChunkOutcome[],
      settledBy: string,
      from: 'queued' | 'pending',
    ): Promise<SettleResult> {
      try {
        await table.client.send(
          new PutCommand({
            TableName: table.tableName,
            Item: settlingItem(ref, outcomes, settledBy, from),
            ConditionExpression: 'attribute_not_exists(pk)',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return { settled: true };
      } catch (error) {
        return settleRefused(error, settledBy);
      }
    },

    async read(ref: ChunkRef): Promise<LedgerEntry | undefined> {
      const { Item } = await table.client.send(
        new GetCommand({ TableName: table.tableName, Key: chunkKey(ref), ConsistentRead: true }),
      );
      return entryOf(Item, false);
    },

    async release(ref: ChunkRef, owner: Owner): Promise<void> {
      try {
        await table.client.send(
          new DeleteCommand({
            TableName: table.tableName,
            Key: chunkKey(ref),
            ConditionExpression: '#state = :claimed AND #owner.#token = :token',
            ExpressionAttributeNames: { '#state': 'state', '#owner': 'owner', '#token': 'token' },
            ExpressionAttributeValues: { ':claimed': 'claimed', ':token': owner.token },
          }),
        );
      } catch (error) {
        // Already released (this call, resent), or taken over: nothing of ours to undo.
        if (!isConditionalCheckFailed(error)) throw error;
      }
    },

    async count(ref: ChunkRef, delta: CountDelta): Promise<boolean> {
      return transact(
        [
          {
            Update: {
              TableName: table.tableName,
              Key: chunkKey(ref),
              UpdateExpression: 'SET #state = :done, countedAt = :now',
              ConditionExpression: '#state = :settling',
              ExpressionAttributeNames: { '#state': 'state' },
              ExpressionAttributeValues: {
                ':done': 'done',
                ':settling': 'settling',
                ':now': new Date().toISOString(),
              },
            },
          },
          campaigns.countsUpdate(ref.storeId, ref.campaignId, ref.shard, delta),
        ],
        // Already done: counted by another receive (or by this call, resent).
        () => false,
        true,
      );
    },

    /**
     * The chunks of a campaign left `settling` (their outcomes decided, not yet counted):
     * what a cancel's sweep that stopped between its page transaction and the count left.
     */
    async settlingChunks(
      storeId: string,
      campaignId: string,
    ): Promise<{ chunkId: string; entry: LedgerEntry }[]> {
      const found: { chunkId: string; entry: LedgerEntry }[] = [];
      const prefix = `CHUNK#${campaignId}#`;
      let ExclusiveStartKey: Record<string, unknown> | undefined;
      do {
        const page = await table.client.send(
          new QueryCommand({
            TableName: table.tableName,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            FilterExpression: '#state = :settling',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: { ':pk': appPk(storeId), ':prefix': prefix, ':settling': 'settling' },
            ConsistentRead: true,
            ExclusiveStartKey,
          }),
        );
        for (const item of page.Items ?? []) {
          found.push({
            chunkId: (item.sk as string).slice(prefix.length),
            entry: entryOf(item, false) as LedgerEntry,
          });
        }
        ExclusiveStartKey = page.LastEvaluatedKey;
      } while (ExclusiveStartKey);
      return found;
    },
  };
}

export type DynamoLedger = ReturnType<typeof createDynamoLedger>;

/** The ledger on the handlers' table. */
export const dynamoLedger = createDynamoLedger(handlerTable);

/** The chunks of a campaign left `settling`, on the handlers' table. */
export const { settlingChunks } = dynamoLedger;
