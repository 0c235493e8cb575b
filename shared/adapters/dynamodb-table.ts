/**
 * A DynamoDB table as a value, apart from the handlers' client (shared/adapters/dynamodb.ts),
 * for the local runtime, tests and benchmarks that build a table of their own.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * The table a store works on: the document client that reaches it, its name, and the
 * number of shard partitions a campaign's recipients are spread over. Each store has a
 * factory over one (`createAppsStore(table)` …); tests and the local runtime pass their own.
 */
export interface Table {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly recipientShards: number;
}

/**
 * A document client over `client` (by default a new one configured by the standard AWS
 * environment): plain JavaScript values in and out, `undefined` fields dropped.
 */
export function documentClient(client: DynamoDBClient = new DynamoDBClient({})): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/**
 * A `Table` whose fields are read from `table()` each time one is used: a store made over
 * it when its module loads reads no configuration until it sends a command.
 */
export function tableOnUse(table: () => Table): Table {
  return {
    get client() {
      return table().client;
    },
    get tableName() {
      return table().tableName;
    },
    get recipientShards() {
      return table().recipientShards;
    },
  };
}
