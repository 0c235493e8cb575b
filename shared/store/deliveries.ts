/**
 * The delivery path's items in the single table: recipients as the send function and the
 * deliver consumer read and change them, the send function's per-shard dispatch
 * checkpoints, and the consumer's per-message counting markers (docs/delivery.md,
 * Sending).
 *
 * | item       | pk            | sk                                 | holds                                  |
 * |------------|---------------|------------------------------------|----------------------------------------|
 * | checkpoint | `APP#<appId>` | `DISPATCH#<campaignId>#<shard>`    | `lastKey`: sk of the last recipient on the queue (or swept) |
 * | marker     | `APP#<appId>` | `DELIVERED#<campaignId>#<messageId>` | `counted`: user ids already in the campaign's counters; `version` |
 *
 * Every recipient status change is a conditional write that moves `gsi1pk` along, so the
 * by-status listing always agrees with the item.
 */
import { randomUUID } from 'node:crypto';
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  documents,
  isConditionalCheckFailed,
  isTransactionCanceled,
  recipientShards,
  tableName,
} from '#shared/adapters/dynamodb.ts';
import {
  appPk,
  campaignSk,
  campaignsByStatusPk,
  recipientPk,
  recipientSk,
  recipientsByStatusPk,
  shardOf,
} from '#shared/domain/keys.ts';
import type { Campaign, Recipient, RecipientStatus, VariableValue } from '#shared/domain/model.ts';
import { storeAppId } from '#shared/domain/sending.ts';
import { putRecipients } from './recipients.ts';

type Key = Record<string, unknown>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A recipient item as stored: the `Recipient` with its keys and the delivering message. */
export interface RecipientItem extends Recipient {
  pk: string;
  sk: string;
  gsi1pk: string;
  gsi1sk: string;
  /** The SQS message whose consumer settled (or is settling) this recipient. */
  messageId?: string;
  /** Set once the channel accepted the message of a `sent` recipient (absent: claimed only). */
  deliveredAt?: string;
}

// ---------------------------------------------------------------------------------
// Dispatch: pages of a shard, checkpoints, counters.

const checkpointSk = (campaignId: string, shard: number) => `DISPATCH#${campaignId}#${shard}`;

/** The sort key of the last recipient of `shard` put on the queue (or swept), if any. */
export async function readCheckpoint(
  appId: string,
  campaignId: string,
  shard: number,
): Promise<string | undefined> {
  const { Item } = await documents.send(
    new GetCommand({
      TableName: tableName,
      Key: { pk: appPk(appId), sk: checkpointSk(campaignId, shard) },
      ConsistentRead: true,
    }),
  );
  return Item?.lastKey as string | undefined;
}

/** Up to `limit` recipients of `shard` after the sort key `afterSk`, in key order. */
export async function recipientsAfter(
  appId: string,
  campaignId: string,
  shard: number,
  afterSk: string | undefined,
  limit: number,
): Promise<RecipientItem[]> {
  const pk = recipientPk(appId, campaignId, shard);
  const { Items = [] } = await documents.send(
    new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk },
      ExclusiveStartKey: afterSk === undefined ? undefined : { pk, sk: afterSk },
      Limit: limit,
    }),
  );
  return Items as RecipientItem[];
}

/**
 * Marks dispatched recipients `queued` (only those still `pending`: one the consumer
 * settled first stays as it is), `concurrency` writes at a time.
 */
export async function markQueued(
  appId: string,
  campaignId: string,
  shard: number,
  recipients: readonly RecipientItem[],
  concurrency = 16,
): Promise<void> {
  const now = new Date().toISOString();
  const gsi1pk = recipientsByStatusPk(appId, campaignId, 'queued', shard);
  let next = 0;
  const worker = async () => {
    while (next < recipients.length) {
      const recipient = recipients[next] as RecipientItem;
      next += 1;
      try {
        await documents.send(
          new UpdateCommand({
            TableName: tableName,
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
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, recipients.length) }, worker));
}

/** The checkpoint moved under us: another run of the send function got there first. */
export class CheckpointMovedError extends Error {}

function checkpointUpdate(
  appId: string,
  campaignId: string,
  shard: number,
  previous: string | undefined,
  next: string,
) {
  return {
    Update: {
      TableName: tableName,
      Key: { pk: appPk(appId), sk: checkpointSk(campaignId, shard) },
      UpdateExpression: 'SET lastKey = :next, updatedAt = :now',
      ConditionExpression: previous === undefined ? 'attribute_not_exists(lastKey)' : 'lastKey = :previous',
      ExpressionAttributeValues: {
        ':next': next,
        ':now': new Date().toISOString(),
        ...(previous === undefined ? {} : { ':previous': previous }),
      },
    },
  };
}

type CountDelta = Partial<Record<RecipientStatus, number>>;

function countsUpdate(appId: string, campaignId: string, delta: CountDelta) {
  const names: Record<string, string> = { '#updatedAt': 'updatedAt' };
  const values: Record<string, unknown> = { ':now': new Date().toISOString() };
  const adds: string[] = [];
  for (const [status, n] of Object.entries(delta)) {
    if (!n) continue;
    names[`#${status}`] = status;
    values[`:${status}`] = n;
    adds.push(`#counts.#${status} :${status}`);
  }
  // DynamoDB refuses a name the expression does not use (a page with nothing to count).
  if (adds.length > 0) names['#counts'] = 'counts';
  return {
    Update: {
      TableName: tableName,
      Key: { pk: appPk(appId), sk: campaignSk(campaignId) },
      UpdateExpression: `SET #updatedAt = :now${adds.length > 0 ? ` ADD ${adds.join(', ')}` : ''}`,
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    },
  };
}

/**
 * After a page of `shard` is on the queue: moves the checkpoint from `previous` to
 * `next` and adds `queued` to the campaign's `queued` count (and takes it from
 * `pending`) in one transaction, so the counters move exactly once per page.
 *
 * @throws CheckpointMovedError when the checkpoint is no longer at `previous`.
 */
export async function commitDispatchedPage(
  appId: string,
  campaignId: string,
  shard: number,
  previous: string | undefined,
  next: string,
  queued: number,
): Promise<void> {
  try {
    await documents.send(
      new TransactWriteCommand({
        TransactItems: [
          checkpointUpdate(appId, campaignId, shard, previous, next),
          countsUpdate(appId, campaignId, { queued, pending: -queued }),
        ],
      }),
    );
  } catch (error) {
    if (isTransactionCanceled(error) && error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') {
      throw new CheckpointMovedError(`dispatch checkpoint of shard ${shard} moved`, { cause: error });
    }
    throw error;
  }
}

/**
 * For a cancelled campaign: turns the `pending` recipients among `page` (the recipients
 * of `shard` after the checkpoint `previous`, never put on the queue) into `skipped`, and
 * moves the checkpoint to the page's last key and the counters (`pending` → `skipped`),
 * all in one transaction. A recipient settled meanwhile (its condition fails) is left
 * out and the transaction tried again. Returns how many were skipped.
 *
 * @throws CheckpointMovedError when the checkpoint is no longer at `previous`.
 */
export async function sweepPage(
  appId: string,
  campaignId: string,
  shard: number,
  previous: string | undefined,
  page: readonly RecipientItem[],
): Promise<number> {
  const last = page.at(-1);
  if (!last) return 0;
  let candidates = page.filter((r) => r.status === 'pending' || r.status === 'queued');
  const now = new Date().toISOString();
  for (;;) {
    const flips = candidates.map((r) => ({
      Update: {
        TableName: tableName,
        Key: { pk: r.pk, sk: r.sk },
        UpdateExpression: 'SET #status = :skipped, gsi1pk = :gsi1pk, updatedAt = :now',
        ConditionExpression: '#status IN (:pending, :queued)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':skipped': 'skipped',
          ':gsi1pk': recipientsByStatusPk(appId, campaignId, 'skipped', shard),
          ':now': now,
          ':pending': 'pending',
          ':queued': 'queued',
        },
      },
    }));
    try {
      await documents.send(
        new TransactWriteCommand({
          TransactItems: [
            checkpointUpdate(appId, campaignId, shard, previous, last.sk),
            countsUpdate(appId, campaignId, { skipped: candidates.length, pending: -candidates.length }),
            ...flips,
          ],
        }),
      );
      return candidates.length;
    } catch (error) {
      if (!isTransactionCanceled(error)) throw error;
      const reasons = error.CancellationReasons ?? [];
      if (reasons[0]?.Code === 'ConditionalCheckFailed') {
        throw new CheckpointMovedError(`dispatch checkpoint of shard ${shard} moved`, { cause: error });
      }
      const settled = new Set(
        reasons.flatMap((reason, i) => (i >= 2 && reason.Code === 'ConditionalCheckFailed' ? [i - 2] : [])),
      );
      // Another cause (throttling, a conflicting transaction): try the same again.
      if (settled.size === 0) {
        await sleep(50);
        continue;
      }
      candidates = candidates.filter((_, i) => !settled.has(i));
    }
  }
}

// ---------------------------------------------------------------------------------
// Delivery: claiming and settling recipients, counting once per message.

export type SettledStatus = 'sent' | 'failed' | 'skipped';

/** What a conditional status change found. */
export type ChangeResult =
  | { changed: true }
  /** The recipient was not pending or queued; `old` is the item as it was (absent: no such recipient). */
  | { changed: false; old: RecipientItem | undefined };

/**
 * Moves a recipient that is still `pending` or `queued` to `status`, recording the SQS
 * message that settles it (and `error` for a failure). Only one writer wins: a replayed
 * or concurrent message finds the recipient settled and gets its old item back.
 *
 * Each call writes its own claim token, so that when the SDK resends a write that had
 * landed (the answer was lost: a dropped connection, a 500 after the write) the failed
 * condition is recognised as this very call's change, not an earlier receive's.
 */
export async function settleRecipient(
  appId: string,
  campaignId: string,
  userId: string,
  status: SettledStatus,
  messageId: string,
  error?: string,
): Promise<ChangeResult> {
  const shard = shardOf(userId, recipientShards);
  const claim = randomUUID();
  try {
    await documents.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: recipientPk(appId, campaignId, shard), sk: recipientSk(userId) },
        UpdateExpression: `SET #status = :to, gsi1pk = :gsi1pk, messageId = :messageId, claim = :claim, updatedAt = :now${
          error === undefined ? ' REMOVE #error' : ', #error = :error'
        }`,
        ConditionExpression: 'attribute_exists(pk) AND #status IN (:pending, :queued)',
        ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
        ExpressionAttributeValues: {
          ':to': status,
          ':gsi1pk': recipientsByStatusPk(appId, campaignId, status, shard),
          ':messageId': messageId,
          ':claim': claim,
          ':now': new Date().toISOString(),
          ':pending': 'pending',
          ':queued': 'queued',
          ...(error === undefined ? {} : { ':error': error }),
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { changed: true };
  } catch (caught) {
    if (!isConditionalCheckFailed(caught)) throw caught;
    const item = (caught as { Item?: Record<string, { S?: string }> }).Item;
    if (!item) return { changed: false, old: undefined };
    // This call's own write, landed before the SDK resent it.
    if (item.claim?.S === claim) return { changed: true };
    // Only the fields the consumer reads, from the low-level attribute format.
    const old = {
      userId,
      status: item.status?.S as RecipientStatus,
      ...(item.messageId?.S === undefined ? {} : { messageId: item.messageId.S }),
      ...(item.error?.S === undefined ? {} : { error: item.error.S }),
      ...(item.deliveredAt?.S === undefined ? {} : { deliveredAt: item.deliveredAt.S }),
    } as RecipientItem;
    return { changed: false, old };
  }
}

/**
 * Changes a recipient this message settled (`from`, with this `messageId`) once more:
 * to `failed` when its delivery failed after it was claimed, or back to `queued` (no
 * message) when a transient failure leaves it for the message's next receive.
 * Only the receive that claimed it calls this, so finding it already `failed` with this
 * message id means this call's write landed and the SDK resent it.
 */
export async function resettleRecipient(
  appId: string,
  campaignId: string,
  userId: string,
  from: SettledStatus,
  to: 'failed' | 'queued',
  messageId: string,
  error?: string,
): Promise<boolean> {
  const shard = shardOf(userId, recipientShards);
  const sets = ['#status = :to', 'gsi1pk = :gsi1pk', 'updatedAt = :now'];
  const removes: string[] = [];
  if (to === 'queued') removes.push('messageId', '#error');
  else sets.push('#error = :error');
  try {
    await documents.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: recipientPk(appId, campaignId, shard), sk: recipientSk(userId) },
        UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
        ConditionExpression: '#status = :from AND messageId = :messageId',
        ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        ExpressionAttributeValues: {
          ':to': to,
          ':from': from,
          ':gsi1pk': recipientsByStatusPk(appId, campaignId, to, shard),
          ':now': new Date().toISOString(),
          ':messageId': messageId,
          ...(to === 'failed' ? { ':error': error ?? 'delivery failed' } : {}),
        },
      }),
    );
    return true;
  } catch (caught) {
    if (!isConditionalCheckFailed(caught)) throw caught;
    const item = (caught as { Item?: Record<string, { S?: string }> }).Item;
    return to === 'failed' && item?.status?.S === 'failed' && item.messageId?.S === messageId;
  }
}

/**
 * Records that the channel accepted the message of a recipient this message claimed
 * (`sent`, with this `messageId`): from then on a crash before counting leaves it
 * `sent` and counted by the message's next receive, not resolved as unknown.
 */
export async function confirmDelivered(
  appId: string,
  campaignId: string,
  userId: string,
  messageId: string,
): Promise<boolean> {
  const shard = shardOf(userId, recipientShards);
  try {
    await documents.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: recipientPk(appId, campaignId, shard), sk: recipientSk(userId) },
        UpdateExpression: 'SET deliveredAt = :now',
        ConditionExpression: '#status = :sent AND messageId = :messageId',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':now': new Date().toISOString(),
          ':sent': 'sent',
          ':messageId': messageId,
        },
      }),
    );
    return true;
  } catch (caught) {
    if (isConditionalCheckFailed(caught)) return false;
    throw caught;
  }
}

/**
 * Ends a recipient this message claimed but never confirmed (`sent`, this `messageId`,
 * no `deliveredAt`: an earlier receive died between the claim and the channel's answer)
 * as `failed` with `error`. Returns false when it is not in that state.
 */
export async function failUnconfirmed(
  appId: string,
  campaignId: string,
  userId: string,
  messageId: string,
  error: string,
): Promise<boolean> {
  const shard = shardOf(userId, recipientShards);
  try {
    await documents.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: recipientPk(appId, campaignId, shard), sk: recipientSk(userId) },
        UpdateExpression: 'SET #status = :failed, gsi1pk = :gsi1pk, #error = :error, updatedAt = :now',
        ConditionExpression:
          '#status = :sent AND messageId = :messageId AND attribute_not_exists(deliveredAt)',
        ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
        ExpressionAttributeValues: {
          ':failed': 'failed',
          ':sent': 'sent',
          ':gsi1pk': recipientsByStatusPk(appId, campaignId, 'failed', shard),
          ':error': error,
          ':now': new Date().toISOString(),
          ':messageId': messageId,
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return true;
  } catch (caught) {
    if (!isConditionalCheckFailed(caught)) throw caught;
    // Already failed by this message: this call's write, landed before the SDK resent it
    // (or a duplicate receive's; the message's counting marker counts it once either way).
    const item = (caught as { Item?: Record<string, { S?: string }> }).Item;
    return item?.status?.S === 'failed' && item.messageId?.S === messageId && item.error?.S === error;
  }
}

const markerSk = (campaignId: string, messageId: string) => `DELIVERED#${campaignId}#${messageId}`;
/** Markers outlive the message: the queue keeps it 4 days, the DLQ 14, a redrive restarts it. */
const MARKER_TTL_SECONDS = 30 * 24 * 3600;

/** The counting marker of one SQS message: the user ids already counted, and its version. */
export interface CountMarker {
  counted: ReadonlySet<string>;
  version: number;
}

export async function readCountMarker(
  appId: string,
  campaignId: string,
  messageId: string,
): Promise<CountMarker> {
  const { Item } = await documents.send(
    new GetCommand({
      TableName: tableName,
      Key: { pk: appPk(appId), sk: markerSk(campaignId, messageId) },
      ConsistentRead: true,
    }),
  );
  return {
    counted: (Item?.counted as Set<string> | undefined) ?? new Set(),
    version: (Item?.version as number) ?? 0,
  };
}

/** The marker changed since it was read: a concurrent receive of the same message. */
export class MarkerMovedError extends Error {}

/**
 * Adds `settled` (user id → status), none of them in `marker.counted`, to the
 * campaign's counters (and takes them from `queued`), and records them in the message's
 * marker, in one transaction conditional on the marker's version: whatever crashes and
 * replays happen, each recipient enters the counters once.
 *
 * @throws MarkerMovedError when the marker is no longer at `marker.version`.
 */
export async function countSettled(
  appId: string,
  campaignId: string,
  messageId: string,
  marker: CountMarker,
  settled: ReadonlyMap<string, SettledStatus>,
): Promise<void> {
  if (settled.size === 0) return;
  const delta: CountDelta = { queued: -settled.size };
  for (const status of settled.values()) delta[status] = (delta[status] ?? 0) + 1;
  try {
    await documents.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: tableName,
              Key: { pk: appPk(appId), sk: markerSk(campaignId, messageId) },
              UpdateExpression: 'ADD counted :users SET version = :next, expiresAt = :expiresAt',
              ConditionExpression:
                marker.version === 0 ? 'attribute_not_exists(version)' : 'version = :previous',
              ExpressionAttributeValues: {
                ':users': new Set(settled.keys()),
                ':next': marker.version + 1,
                ':expiresAt': Math.floor(Date.now() / 1000) + MARKER_TTL_SECONDS,
                ...(marker.version === 0 ? {} : { ':previous': marker.version }),
              },
            },
          },
          countsUpdate(appId, campaignId, delta),
        ],
      }),
    );
  } catch (error) {
    if (isTransactionCanceled(error) && error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') {
      throw new MarkerMovedError(`counting marker of message ${messageId} moved`, { cause: error });
    }
    throw error;
  }
}

/** The campaign as stored now (strongly consistent), without its keys. */
export async function readCampaign(appId: string, campaignId: string): Promise<Campaign | undefined> {
  const { Item } = await documents.send(
    new GetCommand({
      TableName: tableName,
      Key: { pk: appPk(appId), sk: campaignSk(campaignId) },
      ConsistentRead: true,
    }),
  );
  if (!Item) return undefined;
  const { pk: _pk, sk: _sk, gsi1pk: _g, gsi1sk: _s, ...campaign } = Item;
  return campaign as unknown as Campaign;
}

// ---------------------------------------------------------------------------------
// Listing recipients (API).

/** A recipient as the API shows it. */
export interface RecipientView {
  userId: string;
  status: RecipientStatus;
  variables: Record<string, VariableValue>;
  updatedAt: string;
  error?: string;
}

export function recipientView(item: RecipientItem): RecipientView {
  return {
    userId: item.userId,
    status: item.status,
    variables: item.variables ?? {},
    updatedAt: item.updatedAt,
    ...(item.error === undefined ? {} : { error: item.error }),
  };
}

/** Where a recipient listing goes on: a shard, and the key to start after within it. */
export interface RecipientPosition {
  shard: number;
  key?: Key;
}

/**
 * A page of a campaign's recipients, shard after shard, in key order within a shard;
 * with `status`, only those in it (from `gsi1`). Reads one more than `limit` so that
 * `next` is undefined exactly on the last page.
 */
export async function listRecipients(
  appId: string,
  campaignId: string,
  options: { limit: number; from?: RecipientPosition; status?: RecipientStatus },
): Promise<{ items: RecipientItem[]; next: RecipientPosition | undefined }> {
  const found: { item: RecipientItem; shard: number }[] = [];
  let shard = options.from?.shard ?? 0;
  let startKey = options.from?.key;
  while (shard < recipientShards && found.length <= options.limit) {
    const partition = options.status
      ? recipientsByStatusPk(appId, campaignId, options.status, shard)
      : recipientPk(appId, campaignId, shard);
    const { Items = [], LastEvaluatedKey } = await documents.send(
      new QueryCommand({
        TableName: tableName,
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

// ---------------------------------------------------------------------------------
// One-call sends.

/**
 * Stores a one-call send as a hidden campaign already `sending`, in its app's
 * notification scope (`storeAppId`), with its targets as `pending` recipients. The
 * recipients are written first: a campaign item never exists without them.
 */
export async function createNotification(notification: {
  id: string;
  appId: string;
  templateId: string;
  recipients: ReadonlyMap<string, Record<string, VariableValue>>;
  now: string;
}): Promise<Campaign> {
  const scope = storeAppId(notification.appId, notification.id);
  await putRecipients(
    scope,
    notification.id,
    [...notification.recipients].map(([userId, variables]) => ({ userId, variables })),
  );
  const campaign: Campaign = {
    id: notification.id,
    appId: scope,
    name: `notification ${notification.id}`,
    templateId: notification.templateId,
    status: 'sending',
    recipientCount: notification.recipients.size,
    scheduledAt: null,
    counts: { pending: notification.recipients.size, queued: 0, sent: 0, failed: 0, skipped: 0 },
    createdAt: notification.now,
    updatedAt: notification.now,
  };
  await documents.send(
    new PutCommand({
      TableName: tableName,
      Item: {
        pk: appPk(scope),
        sk: campaignSk(notification.id),
        gsi1pk: campaignsByStatusPk(scope, 'sending'),
        gsi1sk: notification.id,
        ...campaign,
      },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
  return campaign;
}
