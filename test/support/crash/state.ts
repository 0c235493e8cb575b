/**
 * Crash tests: the state a user would see, read straight from the table and the outbox.
 * Loaded on use: the stores read TABLE_NAME when they load, which the runtime sets.
 */
import type { RecipientItem } from '#shared/store/deliveries.ts';

/** Every recipient item of a campaign, over all its shards. */
export async function allRecipients(appId: string, campaignId: string): Promise<RecipientItem[]> {
  const { QueryCommand } = await import('@aws-sdk/lib-dynamodb');
  const { documents, tableName, recipientShards } = await import('#shared/adapters/dynamodb.ts');
  const { recipientPk } = await import('#shared/domain/keys.ts');
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

/** Lines per user id of one campaign in an outbox file. */
export async function outboxLines(path: string, campaignId: string): Promise<Map<string, number>> {
  const { readOutbox } = await import('#shared/adapters/outbox-channel.ts');
  const lines = new Map<string, number>();
  for (const entry of await readOutbox(path)) {
    if (entry.campaignId === campaignId) lines.set(entry.userId, (lines.get(entry.userId) ?? 0) + 1);
  }
  return lines;
}

/** The campaign as stored, counters included. */
export async function storedCampaign(appId: string, campaignId: string) {
  const { readCampaign } = await import('#shared/store/deliveries.ts');
  return readCampaign(appId, campaignId);
}
