/**
 * The table of emulators a test started itself (`startEmbeddedAws`, no runtime): a client
 * of its own on their endpoint, so stores are built over it (`createBucketStore(table)` …)
 * and nothing is read from `process.env`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { documentClient, type Table } from '#shared/adapters/dynamodb-table.ts';

/** The table named by `env` (an `EmbeddedAws`'s environment), on its endpoint, region and credentials. */
export function tableAt(env: Readonly<Record<string, string | undefined>>): Table {
  const client = new DynamoDBClient({
    region: env.AWS_REGION,
    endpoint: env.AWS_ENDPOINT_URL_DYNAMODB ?? env.AWS_ENDPOINT_URL,
    // LocalStack: the caller's own credentials, from the default chain.
    ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? { credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } }
      : {}),
  });
  if (!env.TABLE_NAME) throw new Error('tableAt: the environment names no TABLE_NAME');
  // RECIPIENT_SHARDS as shared/config.ts reads it, with its default.
  return {
    client: documentClient(client),
    tableName: env.TABLE_NAME,
    recipientShards: Number(env.RECIPIENT_SHARDS ?? 16),
  };
}
