/**
 * The pace buckets' states in the single table (shared/delivery/pacing.ts decides them):
 * one item per bucket, `APP#<appId>` / `PACE` for an app's own webhook and `DEPLOYMENT` /
 * `PACE` for the deployment's default channel (`paceKey`). Reads are strongly consistent
 * and every write is a put conditional on the version read, so of two consumers that
 * read the same state only one stores what it took.
 */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { handlerTable, isConditionalCheckFailed, type Table } from '#shared/adapters/dynamodb.ts';
import type { BucketState } from '#shared/domain/destinations.ts';
import { paceKey } from '#shared/domain/keys.ts';

/** The bucket store (`BucketStore` of shared/delivery/pacing.ts) on `table`. */
export function createBucketStore(table: Table) {
  return {
    /** The bucket's state (strongly consistent), or undefined before its first write. */
    async read(bucket: string): Promise<BucketState | undefined> {
      const { Item } = await table.client.send(
        new GetCommand({ TableName: table.tableName, Key: paceKey(bucket), ConsistentRead: true }),
      );
      if (!Item) return undefined;
      const { pk: _pk, sk: _sk, bucket: _bucket, ...state } = Item;
      return state as BucketState;
    },

    /** Stores `next` if the item's version is still `expectedVersion` (undefined: no item yet); false if not. */
    async write(bucket: string, next: BucketState, expectedVersion: number | undefined): Promise<boolean> {
      try {
        await table.client.send(
          new PutCommand({
            TableName: table.tableName,
            Item: { ...paceKey(bucket), bucket, ...next },
            ...(expectedVersion === undefined
              ? { ConditionExpression: 'attribute_not_exists(pk)' }
              : {
                  ConditionExpression: 'version = :expected',
                  ExpressionAttributeValues: { ':expected': expectedVersion },
                }),
          }),
        );
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw error;
      }
    },
  };
}

export type DynamoBucketStore = ReturnType<typeof createBucketStore>;

/** The bucket store on the handlers' table. */
export const dynamoBucketStore: DynamoBucketStore = createBucketStore(handlerTable);
