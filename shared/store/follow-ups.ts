/**
 * Follow-up campaigns (docs/api.md, Follow-up): a new draft whose recipients are the
 * recipients of a finished campaign with some statuses, with their variables.
 *
 * The API stores the draft holding the import lock (`importingUploadId =
 * followup:<id>`, `followUpLock`), so nothing can send it, upload to it or add to it
 * while it fills; then the send function (started asynchronously, with its backstop
 * schedule armed first) copies the recipients with `copyFollowUpRecipients` and releases
 * the lock with the counted total. The copy is keyed puts of pending recipient items
 * (the importer's `BatchWriter`: 25 per BatchWriteItem, unprocessed items retried), so a
 * copy that dies part way is simply run again from the start by the next invocation
 * (Lambda's retry or the backstop): the same items are written again, none twice, and
 * the count is counted, not added up.
 *
 * The source's recipients are read from the base table (strongly consistent reads of
 * each shard's partition, filtered by status), not from the by-status index, whose
 * eventual consistency could miss a recipient settled just before the source finished.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import { handlerTable, type Table } from '#shared/adapters/dynamodb.ts';
import { followUpLock } from '#shared/domain/campaigns.ts';
import { appPk, campaignSk, recipientPk } from '#shared/domain/keys.ts';
import type { RecipientStatus, VariableSchema, VariableValue } from '#shared/domain/model.ts';
import { checkVariables, requiredKeys, type VariableProblem } from '#shared/domain/variables.ts';
import { logger } from '#shared/observability.ts';
import { createCampaignsStore } from './campaigns.ts';
import { BatchWriter, createRecipientsStore } from './recipients.ts';

export interface SourceRecipient {
  userId: string;
  variables: Record<string, VariableValue>;
}

/** Shards read at once by a copy or a check. */
const SHARD_CONCURRENCY = 8;

interface FollowUpState {
  status: string;
  importingUploadId?: string;
  followUpOf?: string;
  followUpStatuses?: RecipientStatus[];
}

/** The follow-ups store on `table`, over its campaigns and recipients stores. */
export function createFollowUpsStore(table: Table) {
  const campaigns = createCampaignsStore(table);
  const recipientsStore = createRecipientsStore(table);

  /**
   * Calls `onPage` with every page of the source's recipients whose status is one of
   * `statuses`, `SHARD_CONCURRENCY` shards at a time. Returns how many there were.
   */
  async function forEachSourceRecipient(
    appId: string,
    sourceId: string,
    statuses: readonly RecipientStatus[],
    onPage: (recipients: SourceRecipient[]) => Promise<void> | void,
  ): Promise<number> {
    const values: Record<string, unknown> = {};
    const names = statuses.map((status, i) => {
      values[`:s${i}`] = status;
      return `:s${i}`;
    });
    let total = 0;
    const shards = Array.from({ length: table.recipientShards }, (_, shard) => shard);
    await pLimit(SHARD_CONCURRENCY).map(shards, async (shard) => {
      let ExclusiveStartKey: Record<string, unknown> | undefined;
      do {
        const page = await table.client.send(
          new QueryCommand({
            TableName: table.tableName,
            KeyConditionExpression: 'pk = :pk',
            FilterExpression: `#status IN (${names.join(', ')})`,
            ProjectionExpression: 'userId, variables',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':pk': recipientPk(appId, sourceId, shard), ...values },
            ConsistentRead: true,
            ExclusiveStartKey,
          }),
        );
        const recipients = (page.Items ?? []).map((item) => ({
          userId: item.userId as string,
          variables: (item.variables as Record<string, VariableValue> | undefined) ?? {},
        }));
        total += recipients.length;
        if (recipients.length > 0) await onPage(recipients);
        ExclusiveStartKey = page.LastEvaluatedKey;
      } while (ExclusiveStartKey);
    });
    return total;
  }

  /**
   * What is wrong with the source recipients' variables for another template: a required
   * variable without a value, or a value of the wrong type. At most `limit` problems are
   * kept (in user id order); `total` counts them all.
   */
  async function followUpVariableProblems(
    appId: string,
    sourceId: string,
    statuses: readonly RecipientStatus[],
    schema: VariableSchema,
    limit: number,
  ): Promise<{ problems: VariableProblem[]; total: number; recipients: number }> {
    const required = requiredKeys(schema);
    const problems: VariableProblem[] = [];
    const recipients = await forEachSourceRecipient(appId, sourceId, statuses, (page) => {
      for (const { userId, variables } of page) {
        // Keys the template does not know are kept and unused, as a CSV's extra columns would be.
        const known = Object.fromEntries(
          Object.entries(variables).filter(([key]) => Object.hasOwn(schema, key)),
        );
        const check = checkVariables(schema, known, userId);
        if (!check.ok) problems.push(...check.problems);
        for (const key of required) {
          if (!Object.hasOwn(known, key) || known[key] === '')
            problems.push({ userId, key, message: `'${key}' is required by the template and has no value` });
        }
      }
    });
    problems.sort((a, b) => ((a.userId ?? '') < (b.userId ?? '') ? -1 : 1));
    return { problems: problems.slice(0, limit), total: problems.length, recipients };
  }

  /**
   * Copies a follow-up's recipients and releases its lock, if it is a follow-up whose copy
   * has not completed (otherwise does nothing and returns undefined). Safe to run again,
   * and to run twice at once: keyed puts, then a counted total set under the lock.
   */
  async function copyFollowUpRecipients(
    appId: string,
    campaignId: string,
  ): Promise<{ copied: number } | undefined> {
    const key = { pk: appPk(appId), sk: campaignSk(campaignId) };
    const { Item } = await table.client.send(
      new GetCommand({
        TableName: table.tableName,
        Key: key,
        ConsistentRead: true,
        ProjectionExpression: '#status, importingUploadId, followUpOf, followUpStatuses',
        ExpressionAttributeNames: { '#status': 'status' },
      }),
    );
    const state = Item as FollowUpState | undefined;
    const lock = followUpLock(campaignId);
    if (!state?.followUpOf || state.importingUploadId !== lock || state.status !== 'draft') return undefined;

    const source = state.followUpOf;
    const writer = new BatchWriter({ table });
    const now = new Date().toISOString();
    // One write at a time into the writer (it batches and keeps its own calls in flight):
    // pages of the parallel shard readers queue here, which also holds the readers back.
    let writes = Promise.resolve();
    const read = await forEachSourceRecipient(appId, source, state.followUpStatuses ?? [], (page) => {
      writes = writes.then(() =>
        writer.write(page.map((r) => recipientsStore.recipientItem(appId, campaignId, r, now))),
      );
      return writes;
    });
    await writer.flush();
    const copied = await recipientsStore.countRecipients(appId, campaignId);
    if (copied !== read) {
      // Locked, the draft gains recipients from nowhere else: a mismatch is a bug. Keep the lock.
      throw new Error(`follow-up copy: read ${read} source recipients but the follow-up has ${copied}`);
    }
    // Another run may have released it first, with the same count: then nothing changes.
    await campaigns.releaseLock(appId, campaignId, lock, copied);
    logger.info('follow-up: recipients copied', { campaignId, sourceId: source, copied });
    return { copied };
  }

  return { forEachSourceRecipient, followUpVariableProblems, copyFollowUpRecipients };
}

export type FollowUpsStore = ReturnType<typeof createFollowUpsStore>;

/** The follow-ups store on the handlers' table. */
export const { forEachSourceRecipient, followUpVariableProblems, copyFollowUpRecipients } =
  createFollowUpsStore(handlerTable);
