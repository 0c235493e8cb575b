/** Apps and their API key hashes, in the single table. */
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { handlerTable, isConditionalCheckFailed, type Table } from '#shared/adapters/dynamodb.ts';
import { APP_ID_PATTERN, hashApiKey, newApiKey } from '#shared/domain/api-keys.ts';
import { APP_SK, appPk } from '#shared/domain/keys.ts';

export interface App {
  appId: string;
  keyHashes: string[];
  createdAt: string;
}

/** The apps store on `table`. */
export function createAppsStore(table: Table) {
  return {
    /** The app, or undefined. */
    async findApp(appId: string): Promise<App | undefined> {
      const { Item } = await table.client.send(
        new GetCommand({ TableName: table.tableName, Key: { pk: appPk(appId), sk: APP_SK } }),
      );
      return Item as App | undefined;
    },

    /**
     * Creates the app if needed and adds an API key to it. Returns the key, which is not
     * stored anywhere: only its hash is. With `apiKey`, that key is registered (the local
     * runtime seeds a known one); otherwise a random key is made.
     */
    async addApiKey(appId: string, apiKey: string = newApiKey()): Promise<string> {
      if (!APP_ID_PATTERN.test(appId)) {
        throw new Error(`appId '${appId}' must be 1-64 letters, digits, '_' or '-'`);
      }
      const now = new Date().toISOString();
      await table.client
        .send(
          new UpdateCommand({
            TableName: table.tableName,
            Key: { pk: appPk(appId), sk: APP_SK },
            UpdateExpression:
              'SET appId = :appId, createdAt = if_not_exists(createdAt, :now), keyHashes = list_append(if_not_exists(keyHashes, :empty), :hash)',
            ConditionExpression: 'attribute_not_exists(keyHashes) OR NOT contains(keyHashes, :hashValue)',
            ExpressionAttributeValues: {
              ':appId': appId,
              ':now': now,
              ':empty': [],
              ':hash': [hashApiKey(apiKey)],
              ':hashValue': hashApiKey(apiKey),
            },
          }),
        )
        .catch((error: unknown) => {
          // The key is already registered: nothing to do.
          if (!isConditionalCheckFailed(error)) throw error;
        });
      return apiKey;
    },
  };
}

export type AppsStore = ReturnType<typeof createAppsStore>;

/** The apps store on the handlers' table. */
export const { findApp, addApiKey } = createAppsStore(handlerTable);
