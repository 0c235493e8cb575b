/**
 * Test helper: stores recipients of a draft campaign the way the importer does (keyed
 * items over the shard partitions, status `pending`) and sets the campaign's
 * `recipientCount` and `counts.pending`, so delivery tests need no CSV.
 * Loaded on use: the stores read TABLE_NAME when they load.
 */
import type { VariableValue } from '#shared/domain/model.ts';

export interface TestRecipient {
  userId: string;
  variables?: Record<string, VariableValue>;
}

export async function addRecipients(
  appId: string,
  campaignId: string,
  recipients: readonly TestRecipient[],
): Promise<void> {
  const { UpdateCommand } = await import('@aws-sdk/lib-dynamodb');
  const { documents, tableName } = await import('#shared/adapters/dynamodb.ts');
  const { appPk, campaignSk } = await import('#shared/domain/keys.ts');
  const { putRecipients } = await import('#shared/store/recipients.ts');
  await putRecipients(
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
