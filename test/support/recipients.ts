/**
 * Test helper: stores recipients of a draft campaign the way the importer does (keyed
 * items over the shard partitions, status `pending`) and sets the campaign's
 * `recipientCount` and `counts.pending`, so delivery tests need no CSV. Each works on
 * `table`: by default the test file's runtime's (`useRuntime`); a benchmark passes its own.
 */
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Table } from '#shared/adapters/dynamodb-table.ts';
import { appPk, campaignSk, recipientPk } from '#shared/domain/keys.ts';
import type { VariableValue } from '#shared/domain/model.ts';
import { createRecipientsStore, type RecipientItem } from '#shared/store/recipients.ts';
import { currentTable } from '#test/support/current-runtime.ts';

export interface TestRecipient {
  userId: string;
  variables?: Record<string, VariableValue>;
}

export async function addRecipients(
  appId: string,
  campaignId: string,
  recipients: readonly TestRecipient[],
  table: Table = currentTable(),
): Promise<void> {
  const { client: documents, tableName } = table;
  await createRecipientsStore(table).putRecipients(
    appId,
    campaignId,
    recipients.map((r) => ({ userId: r.userId, variables: r.variables ?? {} })),
  );
  await documents.send(
    new UpdateCommand({
      TableName: tableName,
      Key: { pk: appPk(appId), sk: campaignSk(campaignId) },
      UpdateExpression: 'ADD recipientCount :n, #counts.#pending :n',
      ExpressionAttributeNames: { '#counts': 'counts', '#pending': 'pending' },
      ExpressionAttributeValues: { ':n': recipients.length },
    }),
  );
}

/** `count` recipients `<prefix>0`, `<prefix>1`, … each with `name: "Name <n>"`. */
export function numberedRecipients(count: number, prefix = 'u'): TestRecipient[] {
  return Array.from({ length: count }, (_, i) => ({
    userId: `${prefix}${i}`,
    variables: { name: `Name ${i}` },
  }));
}

/** Every recipient item of a campaign, over all its shards. */
export async function allRecipients(
  appId: string,
  campaignId: string,
  table: Table = currentTable(),
): Promise<RecipientItem[]> {
  const { client: documents, tableName, recipientShards } = table;
  const items: RecipientItem[] = [];
  for (let shard = 0; shard < recipientShards; shard += 1) {
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await documents.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': recipientPk(appId, campaignId, shard) },
          ExclusiveStartKey,
          ConsistentRead: true,
        }),
      );
      items.push(...((page.Items ?? []) as RecipientItem[]));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  }
  return items;
}

/**
 * Every stored recipient of a campaign by user id, and how many items there are: a user
 * stored twice would show as `items > byUser.size`.
 */
export async function storedRecipients(
  appId: string,
  campaignId: string,
): Promise<{ byUser: Map<string, RecipientItem>; items: number }> {
  const items = await allRecipients(appId, campaignId);
  return { byUser: new Map(items.map((item) => [item.userId, item])), items: items.length };
}

/** A chunk's ledger item as a test reads it: its state, and when it was claimed (if it was). */
export interface LedgerItem {
  chunkId: string;
  state: string;
  claimedAt?: string;
  settledAt?: string;
}

/** Every delivery ledger item of a campaign (shared/store/ledger.ts), by chunk id. */
export async function ledgerItems(appId: string, campaignId: string): Promise<Map<string, LedgerItem>> {
  const { client: documents, tableName } = currentTable();
  const prefix = `CHUNK#${campaignId}#`;
  const items = new Map<string, LedgerItem>();
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await documents.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': appPk(appId), ':prefix': prefix },
        ProjectionExpression: 'sk, #state, claimedAt, settledAt',
        ExpressionAttributeNames: { '#state': 'state' },
        ConsistentRead: true,
        ExclusiveStartKey,
      }),
    );
    for (const item of page.Items ?? []) {
      const chunkId = (item.sk as string).slice(prefix.length);
      items.set(chunkId, {
        chunkId,
        state: item.state as string,
        ...(item.claimedAt ? { claimedAt: item.claimedAt as string } : {}),
        ...(item.settledAt ? { settledAt: item.settledAt as string } : {}),
      });
    }
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return items;
}
