/**
 * Recipient items: written in bulk with BatchWriteItem, counted across shards, listed by
 * status, and given their delivery status by the delivery engine's projection. Writes
 * are keyed puts, so writing a recipient twice (a replayed import, a replayed chunk)
 * leaves one item.
 */
import type { BatchWriteItemCommandOutput } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, BatchWriteCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import pLimit, { type LimitFunction } from 'p-limit';
import {
  handlerTable,
  isConditionalCheckFailed,
  isRetryableError,
  type Table,
} from '#shared/adapters/dynamodb.ts';
import { recipientPk, recipientSk, recipientsByStatusPk, shardOf } from '#shared/domain/keys.ts';
import type { Recipient, RecipientStatus, VariableValue } from '#shared/domain/model.ts';
import { type RetryOptions, retry } from '#shared/retry.ts';

type Key = Record<string, unknown>;

/** A recipient item as stored: the `Recipient` with its keys. */
export interface RecipientItem extends Recipient {
  pk: string;
  sk: string;
  gsi1pk: string;
  gsi1sk: string;
  /** The delivery chunk (its first user id) that settled this recipient. */
  chunkId?: string;
}

export interface RecipientInput {
  userId: string;
  variables: Record<string, VariableValue>;
}

/** Tries of one BatchWriteItem call's items in all, and the backoff between them. */
export const BATCH_WRITE_RETRY = { maxAttempts: 10, baseDelayMs: 25, maxDelayMs: 2000 } as const;

export interface BatchWriterOptions {
  /** BatchWriteItem calls in flight at once. */
  concurrency?: number;
  /** Attempts for a call's unprocessed items before giving up. */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** The table written to; the handlers' by default. */
  table?: Table;
  /** The DynamoDB call; the document client by default (tests inject failures here). */
  send?: (command: BatchWriteCommand) => Promise<Pick<BatchWriteItemCommandOutput, 'UnprocessedItems'>>;
}

/** Items a BatchWriteItem call left unprocessed (DynamoDB's answer to throttling): sent again. */
class UnprocessedItemsError extends Error {}

/**
 * Writes items 25 per BatchWriteItem call with at most `concurrency` calls in flight:
 * `write` waits while the pipeline is full, so a fast reader cannot outrun DynamoDB.
 * `UnprocessedItems` are retried with exponential backoff and full jitter, and so is a
 * whole call that stays throttled (or failing with a 5xx) through the SDK's retries. Within one
 * call a key appears once (the later item wins).
 */
export class BatchWriter {
  readonly #table: Table;
  readonly #retry: RetryOptions;
  readonly #send: NonNullable<BatchWriterOptions['send']>;
  readonly #limit: LimitFunction;
  readonly #calls = new Set<Promise<void>>();
  #pending: Record<string, unknown>[] = [];
  #failure: unknown;
  written = 0;

  constructor(options: BatchWriterOptions = {}) {
    this.#table = options.table ?? handlerTable;
    this.#limit = pLimit(options.concurrency ?? 8);
    this.#retry = {
      maxAttempts: options.maxAttempts ?? BATCH_WRITE_RETRY.maxAttempts,
      baseDelayMs: options.baseDelayMs ?? BATCH_WRITE_RETRY.baseDelayMs,
      maxDelayMs: options.maxDelayMs ?? BATCH_WRITE_RETRY.maxDelayMs,
      // Throttled (or a 5xx) beyond the SDK's own few retries: the whole call is sent
      // again like unprocessed items (keyed puts: a repeat is harmless).
      retryable: (error) => error instanceof UnprocessedItemsError || isRetryableError(error),
    };
    this.#send =
      options.send ??
      ((command) =>
        this.#table.client.send(command) as Promise<Pick<BatchWriteItemCommandOutput, 'UnprocessedItems'>>);
  }

  /** Queues items; resolves once they are all handed to a call (not necessarily written). */
  async write(items: Iterable<Record<string, unknown>>): Promise<void> {
    for (const item of items) {
      this.#pending.push(item);
      if (this.#pending.length === 25) await this.#dispatch();
    }
  }

  /** Writes what is queued and waits for every call; throws the first failure. */
  async flush(): Promise<void> {
    if (this.#pending.length > 0) await this.#dispatch();
    while (this.#calls.size > 0) await Promise.all([...this.#calls]);
    if (this.#failure) throw this.#failure;
  }

  async #dispatch(): Promise<void> {
    if (this.#failure) throw this.#failure;
    const byKey = new Map<string, Record<string, unknown>>();
    for (const item of this.#pending) byKey.set(`${item.pk}\u0000${item.sk}`, item);
    this.#pending = [];
    // Resolves once the call has its slot: while every slot is taken, the writer waits.
    await new Promise<void>((started) => {
      const call = this.#limit(async () => {
        started();
        // A call that failed meanwhile stops the writer: what was queued is not sent.
        if (!this.#failure) await this.#writeAll([...byKey.values()]);
      }).catch((error: unknown) => {
        this.#failure ??= error;
      });
      this.#calls.add(call);
      void call.finally(() => this.#calls.delete(call));
    });
    if (this.#failure) throw this.#failure;
  }

  async #writeAll(items: Record<string, unknown>[]): Promise<void> {
    let requests = items.map((Item) => ({ PutRequest: { Item } }));
    await retry(async (attempt) => {
      const result = await this.#send(
        new BatchWriteCommand({ RequestItems: { [this.#table.tableName]: requests } }),
      );
      const unprocessed = (result.UnprocessedItems?.[this.#table.tableName] ?? []) as typeof requests;
      this.written += requests.length - unprocessed.length;
      if (unprocessed.length === 0) return;
      const left = `DynamoDB left ${unprocessed.length} of ${requests.length} items unprocessed after ${attempt} attempts`;
      requests = unprocessed;
      throw new UnprocessedItemsError(left);
    }, this.#retry);
  }
}

/** A settled recipient's new status, as the delivery engine decided it. */
export interface RecipientOutcome {
  userId: string;
  variables: Record<string, VariableValue>;
  status: 'sent' | 'failed' | 'skipped';
  error?: string;
}

/** Where a recipient listing goes on: a shard, and the key to start after within it. */
export interface RecipientPosition {
  shard: number;
  key?: Key;
}

/** Tries of one BatchGetItem call's keys in all, and the backoff between them. */
const BATCH_GET_RETRY = { maxAttempts: 10, baseDelayMs: 50, maxDelayMs: 12_800 };

/** Keys a BatchGetItem call left unprocessed: asked for again. */
class UnprocessedKeysError extends Error {}

/** The recipients store on `table`. */
export function createRecipientsStore(table: Table) {
  /** The stored item of a pending recipient. */
  function recipientItem(
    appId: string,
    campaignId: string,
    input: RecipientInput,
    now: string,
    uploadId?: string,
  ): Recipient & Record<string, unknown> {
    const shard = shardOf(input.userId, table.recipientShards);
    return {
      pk: recipientPk(appId, campaignId, shard),
      sk: recipientSk(input.userId),
      gsi1pk: recipientsByStatusPk(appId, campaignId, 'pending', shard),
      gsi1sk: input.userId,
      appId,
      campaignId,
      userId: input.userId,
      status: 'pending',
      variables: input.variables,
      ...(uploadId ? { uploadId } : {}),
      updatedAt: now,
    };
  }

  /** Writes pending recipients (a new user is added; an existing one gets the new variables). */
  async function putRecipients(
    appId: string,
    campaignId: string,
    recipients: Iterable<RecipientInput>,
    uploadId?: string,
  ): Promise<void> {
    const writer = new BatchWriter({ table });
    const now = new Date().toISOString();
    const items: Record<string, unknown>[] = [];
    for (const r of recipients) items.push(recipientItem(appId, campaignId, r, now, uploadId));
    await writer.write(items);
    await writer.flush();
  }

  /** Distinct recipients of a campaign: a COUNT query per shard, shards in parallel. Exact, and safe to repeat. */
  async function countRecipients(appId: string, campaignId: string): Promise<number> {
    const counts = await Promise.all(
      Array.from({ length: table.recipientShards }, async (_, shard) => {
        let total = 0;
        let ExclusiveStartKey: Record<string, unknown> | undefined;
        do {
          const page = await table.client.send(
            new QueryCommand({
              TableName: table.tableName,
              KeyConditionExpression: 'pk = :pk',
              ExpressionAttributeValues: { ':pk': recipientPk(appId, campaignId, shard) },
              Select: 'COUNT',
              ExclusiveStartKey,
            }),
          );
          total += page.Count ?? 0;
          ExclusiveStartKey = page.LastEvaluatedKey;
        } while (ExclusiveStartKey);
        return total;
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /**
   * Marks dispatched recipients `queued` (only those still `pending`: one the consumer
   * settled first stays as it is), `concurrency` writes at a time.
   */
  async function markQueued(
    appId: string,
    campaignId: string,
    shard: number,
    recipients: readonly RecipientItem[],
    concurrency = 16,
  ): Promise<void> {
    const now = new Date().toISOString();
    const gsi1pk = recipientsByStatusPk(appId, campaignId, 'queued', shard);
    await pLimit(concurrency).map(recipients, async (recipient) => {
      try {
        await table.client.send(
          new UpdateCommand({
            TableName: table.tableName,
            Key: { pk: recipient.pk, sk: recipient.sk },
            UpdateExpression: 'SET #status = :queued, gsi1pk = :gsi1pk, updatedAt = :now',
            ConditionExpression: '#status = :pending',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':queued': 'queued',
              ':pending': 'pending',
              ':gsi1pk': gsi1pk,
              ':now': now,
            },
          }),
        );
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
      }
    });
  }

  /**
   * Writes the outcomes of one delivery chunk onto its recipient items (keyed puts with
   * BatchWriteItem: a replay writes the same items again). The chunk's ledger item is the
   * record of what happened; these items are its projection, for the by-status listing.
   */
  async function projectOutcomes(
    appId: string,
    campaignId: string,
    chunkId: string,
    outcomes: readonly RecipientOutcome[],
    now: string = new Date().toISOString(),
  ): Promise<void> {
    const writer = new BatchWriter({ table });
    await writer.write(
      outcomes.map((o) => {
        const shard = shardOf(o.userId, table.recipientShards);
        return {
          pk: recipientPk(appId, campaignId, shard),
          sk: recipientSk(o.userId),
          gsi1pk: recipientsByStatusPk(appId, campaignId, o.status, shard),
          gsi1sk: o.userId,
          appId,
          campaignId,
          userId: o.userId,
          status: o.status,
          variables: o.variables,
          chunkId,
          updatedAt: now,
          ...(o.error === undefined ? {} : { error: o.error }),
        };
      }),
    );
    await writer.flush();
  }

  /**
   * A page of a campaign's recipients, shard after shard, in key order within a shard;
   * with `status`, only those in it (from `gsi1`). Reads one more than `limit` so that
   * `next` is undefined exactly on the last page.
   */
  async function listRecipients(
    appId: string,
    campaignId: string,
    options: { limit: number; from?: RecipientPosition; status?: RecipientStatus },
  ): Promise<{ items: RecipientItem[]; next: RecipientPosition | undefined }> {
    const found: { item: RecipientItem; shard: number }[] = [];
    let shard = options.from?.shard ?? 0;
    let startKey = options.from?.key;
    while (shard < table.recipientShards && found.length <= options.limit) {
      const partition = options.status
        ? recipientsByStatusPk(appId, campaignId, options.status, shard)
        : recipientPk(appId, campaignId, shard);
      const { Items = [], LastEvaluatedKey } = await table.client.send(
        new QueryCommand({
          TableName: table.tableName,
          ...(options.status
            ? { IndexName: 'gsi1', KeyConditionExpression: 'gsi1pk = :p' }
            : { KeyConditionExpression: 'pk = :p' }),
          ExpressionAttributeValues: { ':p': partition },
          ExclusiveStartKey: startKey,
          Limit: options.limit + 1 - found.length,
        }),
      );
      for (const item of Items) found.push({ item: item as RecipientItem, shard });
      if (LastEvaluatedKey && found.length <= options.limit) {
        startKey = LastEvaluatedKey;
        continue;
      }
      if (found.length > options.limit) break;
      shard += 1;
      startKey = undefined;
    }
    const page = found.slice(0, options.limit);
    const last = page.at(-1);
    if (found.length <= options.limit || !last) return { items: page.map((f) => f.item), next: undefined };
    const keyNames = options.status ? ['pk', 'sk', 'gsi1pk', 'gsi1sk'] : ['pk', 'sk'];
    const key = Object.fromEntries(keyNames.map((k) => [k, (last.item as unknown as Key)[k]]));
    return { items: page.map((f) => f.item), next: { shard: last.shard, key } };
  }

  /** The stored variables of some recipients of a campaign (strongly consistent; absent users left out). */
  async function variablesOf(
    appId: string,
    campaignId: string,
    userIds: readonly string[],
  ): Promise<Map<string, Record<string, VariableValue>>> {
    const found = new Map<string, Record<string, VariableValue>>();
    for (let i = 0; i < userIds.length; i += 100) {
      let keys: Record<string, unknown>[] = userIds.slice(i, i + 100).map((userId) => ({
        pk: recipientPk(appId, campaignId, shardOf(userId, table.recipientShards)),
        sk: recipientSk(userId),
      }));
      await retry(
        async () => {
          const { Responses = {}, UnprocessedKeys = {} } = await table.client.send(
            new BatchGetCommand({
              RequestItems: {
                [table.tableName]: {
                  Keys: keys,
                  ConsistentRead: true,
                  ProjectionExpression: 'userId, variables',
                },
              },
            }),
          );
          for (const item of Responses[table.tableName] ?? [])
            found.set(item.userId as string, (item.variables as Record<string, VariableValue>) ?? {});
          keys = (UnprocessedKeys[table.tableName]?.Keys ?? []) as Record<string, unknown>[];
          if (keys.length > 0)
            throw new UnprocessedKeysError(`BatchGetItem left ${keys.length} keys unprocessed`);
        },
        { ...BATCH_GET_RETRY, retryable: (error) => error instanceof UnprocessedKeysError },
      );
    }
    return found;
  }

  return {
    recipientItem,
    putRecipients,
    countRecipients,
    markQueued,
    projectOutcomes,
    listRecipients,
    variablesOf,
  };
}

export type RecipientsStore = ReturnType<typeof createRecipientsStore>;

/** The recipients store on the handlers' table. */
export const {
  recipientItem,
  putRecipients,
  countRecipients,
  markQueued,
  projectOutcomes,
  listRecipients,
  variablesOf,
} = createRecipientsStore(handlerTable);
