/**
 * Recipient items: written in bulk with BatchWriteItem and counted across shards.
 * Writes are keyed puts, so writing a recipient twice (a replayed import) leaves one item.
 */
import type { BatchWriteItemCommandOutput } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { documents, isRetryableError, recipientShards, tableName } from '#shared/adapters/dynamodb.ts';
import { recipientPk, recipientSk, recipientsByStatusPk, shardOf } from '#shared/domain/keys.ts';
import type { Recipient, VariableValue } from '#shared/domain/model.ts';

export interface RecipientInput {
  userId: string;
  variables: Record<string, VariableValue>;
}

/** The stored item of a pending recipient. */
export function recipientItem(
  appId: string,
  campaignId: string,
  input: RecipientInput,
  now: string,
  uploadId?: string,
): Recipient & Record<string, unknown> {
  const shard = shardOf(input.userId, recipientShards);
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

export interface BatchWriterOptions {
  /** BatchWriteItem calls in flight at once. */
  concurrency?: number;
  /** Attempts for a call's unprocessed items before giving up. */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** The DynamoDB call; the document client by default (tests inject failures here). */
  send?: (command: BatchWriteCommand) => Promise<Pick<BatchWriteItemCommandOutput, 'UnprocessedItems'>>;
}

/**
 * Writes items 25 per BatchWriteItem call with at most `concurrency` calls in flight:
 * `write` waits while the pipeline is full, so a fast reader cannot outrun DynamoDB.
 * `UnprocessedItems` are retried with exponential backoff and full jitter, and so is a
 * whole call that stays throttled (or failing with a 5xx) through the SDK's retries. Within one
 * call a key appears once (the later item wins).
 */
export class BatchWriter {
  readonly #options: Required<Omit<BatchWriterOptions, 'send'>>;
  readonly #send: NonNullable<BatchWriterOptions['send']>;
  readonly #inFlight = new Set<Promise<void>>();
  #pending: Record<string, unknown>[] = [];
  #failure: unknown;
  written = 0;

  constructor(options: BatchWriterOptions = {}) {
    this.#options = {
      concurrency: options.concurrency ?? 8,
      maxAttempts: options.maxAttempts ?? 10,
      baseDelayMs: options.baseDelayMs ?? 25,
      maxDelayMs: options.maxDelayMs ?? 2000,
    };
    this.#send =
      options.send ??
      ((command) =>
        documents.send(command) as Promise<Pick<BatchWriteItemCommandOutput, 'UnprocessedItems'>>);
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
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    if (this.#failure) throw this.#failure;
  }

  async #dispatch(): Promise<void> {
    if (this.#failure) throw this.#failure;
    while (this.#inFlight.size >= this.#options.concurrency) await Promise.race(this.#inFlight);
    if (this.#failure) throw this.#failure;
    const byKey = new Map<string, Record<string, unknown>>();
    for (const item of this.#pending) byKey.set(`${item.pk}\u0000${item.sk}`, item);
    this.#pending = [];
    const call = this.#writeAll([...byKey.values()]).then(
      () => undefined,
      (error: unknown) => {
        this.#failure ??= error;
      },
    );
    const tracked = call.finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
  }

  async #writeAll(items: Record<string, unknown>[]): Promise<void> {
    let requests = items.map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 1; ; attempt += 1) {
      let unprocessed: typeof requests;
      try {
        const result = await this.#send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
        unprocessed = (result.UnprocessedItems?.[tableName] ?? []) as typeof requests;
      } catch (error) {
        // Throttled (or a 5xx) beyond the SDK's own few retries: the whole call is
        // unprocessed, and is retried like unprocessed items (keyed puts: a repeat is harmless).
        if (!isRetryableError(error) || attempt >= this.#options.maxAttempts) throw error;
        unprocessed = requests;
      }
      this.written += requests.length - unprocessed.length;
      if (unprocessed.length === 0) return;
      if (attempt >= this.#options.maxAttempts) {
        throw new Error(
          `DynamoDB left ${unprocessed.length} of ${requests.length} items unprocessed after ${attempt} attempts`,
        );
      }
      requests = unprocessed;
      const ceiling = Math.min(this.#options.maxDelayMs, this.#options.baseDelayMs * 2 ** (attempt - 1));
      await new Promise((r) => setTimeout(r, Math.random() * ceiling));
    }
  }
}

/** Writes pending recipients (a new user is added; an existing one gets the new variables). */
export async function putRecipients(
  appId: string,
  campaignId: string,
  recipients: Iterable<RecipientInput>,
  uploadId?: string,
): Promise<void> {
  const writer = new BatchWriter();
  const now = new Date().toISOString();
  const items: Record<string, unknown>[] = [];
  for (const r of recipients) items.push(recipientItem(appId, campaignId, r, now, uploadId));
  await writer.write(items);
  await writer.flush();
}

/** Distinct recipients of a campaign: a COUNT query per shard, shards in parallel. Exact, and safe to repeat. */
export async function countRecipients(appId: string, campaignId: string): Promise<number> {
  const counts = await Promise.all(
    Array.from({ length: recipientShards }, async (_, shard) => {
      let total = 0;
      let ExclusiveStartKey: Record<string, unknown> | undefined;
      do {
        const page = await documents.send(
          new QueryCommand({
            TableName: tableName,
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
