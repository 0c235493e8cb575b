/**
 * Campaigns in the single table, under their app's partition, and on `gsi1` by
 * status (`shared/domain/keys.ts`). Status changes go through `transitionCampaign`
 * only: a conditional write, so racing requests never both move a campaign.
 *
 * This module is the one writer of a campaign's items: the campaign item itself and
 * its counter shards. The campaign item's `counts` is the baseline the import sets
 * (`pending` = recipients); dispatch, delivery and cancel move the counters of one
 * recipient shard each (`COUNTS#<campaignId>#<shard>`, through `countsUpdate`, inside
 * their own transactions), so that no single item takes every chunk's transaction.
 * A read adds the shards to the baseline. Each shard also keeps the recipients it
 * settled per 5-second slot (`r<slot>`, written by the same update), from which a read
 * gives the delivery rate of the last minute (`settledBySlot`).
 */
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  handlerTable,
  isConditionalCheckFailed,
  isTransactionCanceled,
  type Table,
} from '#shared/adapters/dynamodb.ts';
import { RATE_WINDOW_SLOTS, rateSlotOf } from '#shared/domain/campaign-progress.ts';
import { canTransition } from '#shared/domain/campaign-status.ts';
import { noRecipientsError, sendDuringImportError } from '#shared/domain/campaigns.ts';
import type { CountDelta } from '#shared/domain/delivery-ledger.ts';
import { appPk, campaignSk, campaignsByStatusPk, templateSk } from '#shared/domain/keys.ts';
import type { Campaign, CampaignStatus, RecipientStatus, VariableValue } from '#shared/domain/model.ts';
import { storeAppId } from '#shared/domain/sending.ts';
import { ConflictError, NotFoundError, TemplateNotApprovedError } from '#shared/errors.ts';
import { type Page, type PageOf, queryPage } from './paging.ts';
import { createRecipientsStore } from './recipients.ts';

const CAMPAIGN_PREFIX = campaignSk('');
const COUNT_FIELDS = [
  'pending',
  'queued',
  'sent',
  'failed',
  'skipped',
] as const satisfies readonly RecipientStatus[];
const countsPrefix = (campaignId: string) => `COUNTS#${campaignId}#`;
const countsSk = (campaignId: string, shard: number) => `${countsPrefix(campaignId)}${shard}`;
const campaignKey = (appId: string, campaignId: string) => ({ pk: appPk(appId), sk: campaignSk(campaignId) });

/** The campaign without table keys. */
function fromItem(item: Record<string, unknown>): Campaign {
  const { pk: _pk, sk: _sk, gsi1pk: _gsi1pk, gsi1sk: _gsi1sk, ...campaign } = item;
  return campaign as unknown as Campaign;
}

/** The counters a settled recipient moves to: what the delivery rate counts. */
const SETTLED_FIELDS = ['sent', 'failed', 'skipped'] as const satisfies readonly RecipientStatus[];
/** A counter shard's rate slot attribute: `r<slot>` (shared/domain/campaign-progress.ts). */
const slotAttribute = (slot: number) => `r${slot}`;
const SLOT_ATTRIBUTE = /^r(\d+)$/;
/**
 * Slots a count removes, by age: the 12 after the 13 the rate reads (the current one and
 * the 12 before it). A shard counted at least once a minute never holds more than 25.
 */
const STALE_SLOT_AGES = Array.from({ length: 12 }, (_, i) => RATE_WINDOW_SLOTS + i);

/** What a campaign's counter shards add up to: counter deltas, and recipients settled per rate slot. */
interface ShardSums {
  counts: CountDelta;
  settledBySlot: Map<number, number>;
}

/** The campaign with its counter shards' sums added to its baseline counts. */
function addCounts(campaign: Campaign, sums: ShardSums): Campaign {
  const counts = { ...campaign.counts };
  for (const status of COUNT_FIELDS) counts[status] = (counts[status] ?? 0) + (sums.counts[status] ?? 0);
  return {
    ...campaign,
    counts,
    ...(sums.settledBySlot.size > 0 ? { settledBySlot: sums.settledBySlot } : {}),
  };
}

/** Fields a transition may set along with the status (`startedAt` is the move to `sending`'s own). */
export type TransitionUpdates = Partial<
  Omit<Campaign, 'id' | 'appId' | 'status' | 'createdAt' | 'updatedAt' | 'startedAt' | 'settledBySlot'>
>;

/** The campaigns store on `table`. */
export function createCampaignsStore(table: Table) {
  const recipients = createRecipientsStore(table);

  /**
   * The transaction item that adds `delta` to the counters of one recipient shard of a
   * campaign. Dispatch, delivery and cancel put it in their own transactions, so the
   * counters move exactly when their state change commits. Recipients it settles are also
   * added to the shard's rate slot of `now` (`r<slot>`), and the slots too old to be read
   * are removed, in the same update: the rate costs no write of its own.
   */
  function countsUpdate(
    appId: string,
    campaignId: string,
    shard: number,
    delta: CountDelta,
    now: number = Date.now(),
  ) {
    const names: Record<string, string> = { '#updatedAt': 'updatedAt' };
    const values: Record<string, unknown> = { ':now': new Date(now).toISOString() };
    const adds: string[] = [];
    const removes: string[] = [];
    for (const status of COUNT_FIELDS) {
      const n = delta[status];
      if (!n) continue;
      names[`#${status}`] = status;
      values[`:${status}`] = n;
      adds.push(`#${status} :${status}`);
    }
    const settled = SETTLED_FIELDS.reduce((sum, status) => sum + Math.max(0, delta[status] ?? 0), 0);
    if (settled > 0) {
      const slot = rateSlotOf(now);
      names['#slot'] = slotAttribute(slot);
      values[':settled'] = settled;
      adds.push('#slot :settled');
      // Older than every slot read, so never the slot added to (an update may not name one path twice).
      STALE_SLOT_AGES.forEach((age, i) => {
        names[`#stale${i}`] = slotAttribute(slot - age);
        removes.push(`#stale${i}`);
      });
    }
    return {
      Update: {
        TableName: table.tableName,
        Key: { pk: appPk(appId), sk: countsSk(campaignId, shard) },
        UpdateExpression: [
          'SET #updatedAt = :now',
          ...(adds.length > 0 ? [`ADD ${adds.join(', ')}`] : []),
          ...(removes.length > 0 ? [`REMOVE ${removes.join(', ')}`] : []),
        ].join(' '),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      },
    };
  }

  /** The sum of a campaign's counter shards (strongly consistent when asked). */
  async function shardCounts(appId: string, campaignId: string, consistent: boolean): Promise<ShardSums> {
    const counts: CountDelta = {};
    const settledBySlot = new Map<number, number>();
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await table.client.send(
        new QueryCommand({
          TableName: table.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': appPk(appId), ':prefix': countsPrefix(campaignId) },
          ConsistentRead: consistent,
          ExclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) {
        for (const status of COUNT_FIELDS)
          counts[status] = (counts[status] ?? 0) + ((item[status] as number) ?? 0);
        for (const [name, value] of Object.entries(item)) {
          const slot = SLOT_ATTRIBUTE.exec(name)?.[1];
          if (slot !== undefined)
            settledBySlot.set(Number(slot), (settledBySlot.get(Number(slot)) ?? 0) + Number(value));
        }
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return { counts, settledBySlot };
  }

  /** The campaign with its counter shards added (read now). */
  async function withCounts(appId: string, campaign: Campaign, consistent: boolean): Promise<Campaign> {
    return addCounts(campaign, await shardCounts(appId, campaign.id, consistent));
  }

  /**
   * Stores a new campaign, indexed by its status, in one transaction with a check that
   * its template is still approved: a template archived meanwhile cannot gain a campaign.
   *
   * @throws NotFoundError when the app has no such template.
   * @throws TemplateNotApprovedError when the template is not approved.
   */
  async function createCampaign(campaign: Campaign): Promise<void> {
    const templateKey = { pk: appPk(campaign.appId), sk: templateSk(campaign.templateId) };
    await table.client
      .send(
        new TransactWriteCommand({
          TransactItems: [
            {
              ConditionCheck: {
                TableName: table.tableName,
                Key: templateKey,
                ConditionExpression: '#status = :approved',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: { ':approved': 'approved' },
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            {
              Put: {
                TableName: table.tableName,
                Item: {
                  pk: appPk(campaign.appId),
                  sk: campaignSk(campaign.id),
                  gsi1pk: campaignsByStatusPk(campaign.appId, campaign.status),
                  gsi1sk: campaign.id,
                  ...campaign,
                },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      )
      .catch((error: unknown) => {
        const reasons = (
          error as { CancellationReasons?: { Code?: string; Item?: { status?: { S?: string } } }[] }
        ).CancellationReasons;
        const template = reasons?.[0];
        if (!isTransactionCanceled(error) || template?.Code !== 'ConditionalCheckFailed') throw error;
        // The template as it was, in the low-level attribute format.
        if (!template.Item) throw new NotFoundError('Template', campaign.templateId);
        throw new TemplateNotApprovedError(campaign.templateId, template.Item.status?.S ?? 'unknown');
      });
  }

  /** The app's campaign, or undefined (also when the id belongs to another app). */
  async function findCampaign(appId: string, id: string): Promise<Campaign | undefined> {
    return read(appId, id, false);
  }

  /** The campaign's status as stored now (strongly consistent), without reading its counters. */
  async function readCampaignStatus(appId: string, id: string): Promise<CampaignStatus | undefined> {
    const { Item } = await table.client.send(
      new GetCommand({
        TableName: table.tableName,
        Key: { pk: appPk(appId), sk: campaignSk(id) },
        ConsistentRead: true,
        ProjectionExpression: '#status',
        ExpressionAttributeNames: { '#status': 'status' },
      }),
    );
    return Item?.status as CampaignStatus | undefined;
  }

  /** The campaign as stored now (strongly consistent, counters included), or undefined. */
  async function readCampaign(appId: string, id: string): Promise<Campaign | undefined> {
    return read(appId, id, true);
  }

  async function read(appId: string, id: string, consistent: boolean): Promise<Campaign | undefined> {
    const [{ Item }, sums] = await Promise.all([
      table.client.send(
        new GetCommand({
          TableName: table.tableName,
          Key: { pk: appPk(appId), sk: campaignSk(id) },
          ConsistentRead: consistent,
        }),
      ),
      shardCounts(appId, id, consistent),
    ]);
    return Item ? addCounts(fromItem(Item), sums) : undefined;
  }

  /** The app's campaign, or a `NotFoundError`. */
  async function getCampaign(appId: string, id: string): Promise<Campaign> {
    const campaign = await findCampaign(appId, id);
    if (!campaign) throw new NotFoundError('Campaign', id);
    return campaign;
  }

  /** A page of the app's campaigns, oldest first; with `status`, only those in it. */
  async function listCampaigns(
    appId: string,
    page: Page,
    status?: CampaignStatus,
  ): Promise<PageOf<Campaign>> {
    const { items, lastKey } = await queryPage(
      table,
      status
        ? { partition: campaignsByStatusPk(appId, status), index: 'gsi1' }
        : { partition: appPk(appId), skPrefix: CAMPAIGN_PREFIX },
      page,
    );
    return {
      items: await Promise.all(items.map((item) => withCounts(appId, fromItem(item), false))),
      lastKey,
    };
  }

  /**
   * Moves a campaign from one of `from` to `to`, setting `updates` too, in one
   * conditional write: it succeeds only if the campaign's status is still one of
   * `from`, so of two racing requests exactly one wins. Also moves the campaign in the
   * by-status index. A move to `sending` sets `startedAt` unless the campaign has one.
   * Returns the campaign after the change.
   *
   * @throws Error when some `from` → `to` is not a transition of the state machine.
   * @throws NotFoundError when the app has no such campaign.
   * @throws ConflictError when its status is not one of `from` (details give the status).
   */
  async function transitionCampaign(
    appId: string,
    id: string,
    from: readonly CampaignStatus[],
    to: CampaignStatus,
    updates: TransitionUpdates = {},
    now: string = new Date().toISOString(),
  ): Promise<Campaign> {
    return transition(appId, id, from, to, updates, now, false);
  }

  /**
   * Sets the campaign's delivery chunk size unless it has one (the first dispatch fixes
   * it); returns the one stored after.
   */
  async function fixChunkSize(appId: string, id: string, size: number): Promise<number> {
    const { Attributes } = await table.client.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: { pk: appPk(appId), sk: campaignSk(id) },
        UpdateExpression: 'SET chunkSize = if_not_exists(chunkSize, :size)',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':size': size },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(Attributes?.chunkSize ?? size);
  }

  /**
   * A draft campaign starts sending (`sending`, or `scheduled` with `scheduledAt`) in one
   * conditional write that also requires no import to hold the campaign's lock and at
   * least one recipient: an upload claimed between the API's checks and this write
   * cannot end up importing into a campaign that is already being sent.
   *
   * @throws ConflictError naming the import, the empty audience or the status.
   */
  async function startSending(
    appId: string,
    id: string,
    to: 'sending' | 'scheduled',
    updates: TransitionUpdates = {},
  ): Promise<Campaign> {
    return transition(appId, id, ['draft'], to, updates, new Date().toISOString(), true);
  }

  async function transition(
    appId: string,
    id: string,
    from: readonly CampaignStatus[],
    to: CampaignStatus,
    updates: TransitionUpdates,
    now: string,
    idleWithRecipients: boolean,
  ): Promise<Campaign> {
    // A `from` the state machine does not allow is a bug in the caller, not a race: a 500.
    const invalid = from.filter((status) => !canTransition(status, to));
    if (from.length === 0 || invalid.length > 0) {
      throw new Error(
        `transitionCampaign: ${invalid.join(', ') || '(no status)'} -> ${to} is not a campaign transition`,
      );
    }
    const names: Record<string, string> = { '#status': 'status', '#updatedAt': 'updatedAt' };
    const values: Record<string, unknown> = {
      ':to': to,
      ':gsi1pk': campaignsByStatusPk(appId, to),
      ':now': now,
    };
    const sets = ['#status = :to', 'gsi1pk = :gsi1pk', '#updatedAt = :now'];
    // Once: a send resumed, or a second run's transition, keeps the first start.
    if (to === 'sending') sets.push('startedAt = if_not_exists(startedAt, :now)');
    Object.entries(updates).forEach(([field, value], i) => {
      if (value === undefined) return;
      names[`#u${i}`] = field;
      values[`:u${i}`] = value;
      sets.push(`#u${i} = :u${i}`);
    });
    if (idleWithRecipients) values[':zero'] = 0;
    const fromValues = from.map((status, i) => {
      values[`:from${i}`] = status;
      return `:from${i}`;
    });
    try {
      const { Attributes } = await table.client.send(
        new UpdateCommand({
          TableName: table.tableName,
          Key: { pk: appPk(appId), sk: campaignSk(id) },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: `attribute_exists(pk) AND #status IN (${fromValues.join(', ')})${
            idleWithRecipients
              ? ' AND attribute_not_exists(importingUploadId) AND recipientCount > :zero'
              : ''
          }`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return withCounts(appId, fromItem(Attributes ?? {}), true);
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      // The item as it was, in the low-level attribute format.
      const old = (
        error as {
          Item?: {
            status?: { S?: string };
            importingUploadId?: { S?: string };
            recipientCount?: { N?: string };
          };
        }
      ).Item;
      if (!old) throw new NotFoundError('Campaign', id);
      const status = old.status?.S ?? 'unknown';
      if (idleWithRecipients && from.includes(status as CampaignStatus)) {
        const uploadId = old.importingUploadId?.S;
        if (uploadId) throw sendDuringImportError(id, uploadId);
        throw noRecipientsError(id);
      }
      throw new ConflictError(
        `Campaign '${id}' is ${status}; it can become ${to} only from ${from.join(' or ')}.`,
        { campaignId: id, status, requested: to },
      );
    }
  }

  /**
   * Stores a one-call send as a hidden campaign already `sending`, in its app's
   * notification scope (`storeAppId`), with its targets as `pending` recipients. The
   * recipients are written first: a campaign item never exists without them.
   */
  async function createNotification(notification: {
    id: string;
    appId: string;
    templateId: string;
    recipients: ReadonlyMap<string, Record<string, VariableValue>>;
    now: string;
  }): Promise<Campaign> {
    const scope = storeAppId(notification.appId, notification.id);
    await recipients.putRecipients(
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
      startedAt: notification.now,
    };
    await table.client.send(
      new PutCommand({
        TableName: table.tableName,
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

  /*
   * The import lock: the campaign item's `importingUploadId`. An upload, an inline add or a
   * follow-up's copy holds it while it adds recipients, so two cannot add at once and a
   * send waits. Every write of it is here, with the campaign item's other writes; the
   * upload store puts the transaction items below beside its own.
   */

  /**
   * The transaction item that takes a draft's import lock for `lockId`; with `reentrant`,
   * a lock `lockId` holds already is kept (a claim of the upload that holds it).
   */
  function takeLockItem(appId: string, campaignId: string, lockId: string, reentrant = false) {
    return {
      Update: {
        TableName: table.tableName,
        Key: campaignKey(appId, campaignId),
        UpdateExpression: 'SET importingUploadId = :u',
        ConditionExpression: reentrant
          ? '#status = :draft AND (attribute_not_exists(importingUploadId) OR importingUploadId = :u)'
          : '#status = :draft AND attribute_not_exists(importingUploadId)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':u': lockId, ':draft': 'draft' },
      },
    };
  }

  /** The transaction item that ends `lockId`'s import: the recipient count set, the lock released. */
  function completeImportItem(
    appId: string,
    campaignId: string,
    lockId: string,
    recipientCount: number,
    now: string,
  ) {
    return {
      Update: {
        TableName: table.tableName,
        Key: campaignKey(appId, campaignId),
        UpdateExpression:
          'SET recipientCount = :count, counts.pending = :count, updatedAt = :now REMOVE importingUploadId',
        ConditionExpression: 'importingUploadId = :u',
        ExpressionAttributeValues: { ':count': recipientCount, ':u': lockId, ':now': now },
      },
    };
  }

  /**
   * Takes a draft's import lock for `lockId` on its own (an inline add); false when the
   * campaign is gone, not a draft, or locked.
   */
  async function takeLock(appId: string, campaignId: string, lockId: string): Promise<boolean> {
    try {
      await table.client.send(
        new UpdateCommand({
          ...takeLockItem(appId, campaignId, lockId).Update,
          ConditionExpression:
            'attribute_exists(pk) AND #status = :draft AND attribute_not_exists(importingUploadId)',
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      return false;
    }
  }

  /**
   * Removes the import lock if `lockId` holds it, setting the recipient count too when
   * given (an import or copy that ended); a lock held by another, or none, is left as it is.
   */
  async function releaseLock(
    appId: string,
    campaignId: string,
    lockId: string,
    recipientCount?: number,
  ): Promise<void> {
    const item =
      recipientCount === undefined
        ? {
            Key: campaignKey(appId, campaignId),
            UpdateExpression: 'REMOVE importingUploadId',
            ConditionExpression: 'importingUploadId = :u',
            ExpressionAttributeValues: { ':u': lockId },
          }
        : completeImportItem(appId, campaignId, lockId, recipientCount, new Date().toISOString()).Update;
    try {
      await table.client.send(new UpdateCommand({ TableName: table.tableName, ...item }));
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
  }

  return {
    countsUpdate,
    createCampaign,
    findCampaign,
    readCampaignStatus,
    readCampaign,
    getCampaign,
    listCampaigns,
    transitionCampaign,
    fixChunkSize,
    startSending,
    createNotification,
    takeLockItem,
    completeImportItem,
    takeLock,
    releaseLock,
  };
}

export type CampaignsStore = ReturnType<typeof createCampaignsStore>;

/** The campaigns store on the handlers' table. */
export const {
  countsUpdate,
  createCampaign,
  findCampaign,
  readCampaignStatus,
  readCampaign,
  getCampaign,
  listCampaigns,
  transitionCampaign,
  fixChunkSize,
  startSending,
  createNotification,
  takeLockItem,
  completeImportItem,
  takeLock,
  releaseLock,
} = createCampaignsStore(handlerTable);
