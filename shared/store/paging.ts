/**
 * Paged DynamoDB queries for the list endpoints: reads one item more than the page
 * so `next` is null exactly on the last page, and checks that a cursor belongs to
 * the listing it is used with (a cursor of another listing is an `InvalidInputError`, not a failure).
 */
import { QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Table } from '#shared/adapters/dynamodb-table.ts';
import { InvalidInputError } from '#shared/errors.ts';

/** A page of a listing to read: how many, and where to start. */
export interface Page {
  limit: number;
  /** DynamoDB `ExclusiveStartKey`, already checked to belong to the caller's app. */
  startKey: Record<string, unknown> | undefined;
}

type Key = Record<string, unknown>;

/** One page of a listing. */
export interface PageOf<T> {
  items: T[];
  /** `ExclusiveStartKey` of the next page, or undefined on the last one. */
  lastKey: Key | undefined;
}

export interface PagedQuery {
  /** Partition key value the listing reads (`pk`, or `gsi1pk` with `index`). */
  partition: string;
  /** Sort key prefix on the base table (`begins_with`). */
  skPrefix?: string;
  /** Query `gsi1` instead of the base table. */
  index?: 'gsi1';
}

/**
 * One page of items of `query` on `table`, in sort-key order. `page.startKey` must be a
 * key this listing returned (the cursor was decoded for the caller's app already).
 */
export async function queryPage(table: Table, query: PagedQuery, page: Page): Promise<PageOf<Key>> {
  const keyNames = query.index ? ['pk', 'sk', 'gsi1pk', 'gsi1sk'] : ['pk', 'sk'];
  if (page.startKey) assertKeyOf(query, keyNames, page.startKey);
  const input: QueryCommandInput = query.index
    ? {
        TableName: table.tableName,
        IndexName: query.index,
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': query.partition },
      }
    : {
        TableName: table.tableName,
        KeyConditionExpression: query.skPrefix ? 'pk = :p AND begins_with(sk, :prefix)' : 'pk = :p',
        ExpressionAttributeValues: {
          ':p': query.partition,
          ...(query.skPrefix ? { ':prefix': query.skPrefix } : {}),
        },
      };
  const { Items = [] } = await table.client.send(
    new QueryCommand({ ...input, ExclusiveStartKey: page.startKey, Limit: page.limit + 1 }),
  );
  const items = Items.slice(0, page.limit);
  const last = items.at(-1);
  const lastKey =
    Items.length > page.limit && last ? Object.fromEntries(keyNames.map((k) => [k, last[k]])) : undefined;
  return { items, lastKey };
}

function assertKeyOf(query: PagedQuery, keyNames: string[], key: Key): void {
  const names = Object.keys(key);
  const sameNames = names.length === keyNames.length && keyNames.every((n) => typeof key[n] === 'string');
  const partition = query.index ? key.gsi1pk : key.pk;
  const inListing =
    partition === query.partition &&
    (query.index || !query.skPrefix || String(key.sk).startsWith(query.skPrefix));
  if (!sameNames || !inListing) {
    throw new InvalidInputError(
      'cursor is invalid for this listing; pass the meta.next value of the previous page with the same filters.',
      { field: 'cursor' },
    );
  }
}
