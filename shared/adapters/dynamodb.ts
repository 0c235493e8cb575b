/**
 * The DynamoDB client, created once per process on first use and traced (`tracer.captureAWSv3Client`:
 * a no-op outside Lambda). Region, credentials and endpoint (`AWS_ENDPOINT_URL_DYNAMODB`
 * or `AWS_ENDPOINT_URL`) come from the standard AWS environment, so the same code talks
 * to DynamoDB, LocalStack or DynamoDB Local.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { tableConfig } from '#shared/config.ts';
import { once, onFirstUse } from '#shared/first-use.ts';
import { tracer } from '#shared/observability.ts';
import { retry } from '#shared/retry.ts';
import { documentClient, type Table, tableOnUse } from './dynamodb-table.ts';

export { documentClient, type Table } from './dynamodb-table.ts';

/** Low-level client, for commands the document client does not wrap; made on first use. */
const lowLevelClient = once(() => tracer.captureAWSv3Client(new DynamoDBClient({})));
export const dynamodb: DynamoDBClient = onFirstUse(lowLevelClient);

/**
 * Document client: plain JavaScript values in and out, `undefined` fields dropped. It
 * shares the low-level client's middleware stack, and so its tracing.
 */
export const documents: DynamoDBDocumentClient = onFirstUse(() => documentClient(lowLevelClient()));

/**
 * The table the handlers use: `documents`, `TABLE_NAME` and `RECIPIENT_SHARDS`. Read on
 * first use, not when this module loads, so importing a store needs no environment; a
 * missing or malformed variable fails that first use with a message naming it.
 */
export const defaultTable = once((): Table => {
  const config = tableConfig();
  return { client: documents, tableName: config.TABLE_NAME, recipientShards: config.RECIPIENT_SHARDS };
});

/**
 * `defaultTable()` as a `Table` value whose fields are read when used: each store module
 * makes its handlers' store over it when it loads (`createTemplatesStore(handlerTable)` …),
 * and the configuration is read on the first query. A store therefore reads `table.…`
 * where it sends a command, never when it is made.
 */
export const handlerTable: Table = tableOnUse(defaultTable);

const errorName = (error: unknown) => (error as { name?: string } | undefined)?.name;

/** A conditional write whose condition did not hold. */
export function isConditionalCheckFailed(error: unknown): boolean {
  return errorName(error) === 'ConditionalCheckFailedException';
}

/** Why a transaction was cancelled, for one of its items (`None` when that item was not the reason). */
export interface CancellationReason {
  Code?: string;
  Message?: string;
  Item?: Record<string, unknown>;
}

/**
 * A cancelled transaction, for any reason: a failed condition, but also a conflict with
 * another transaction or throttling. `CancellationReasons` says which; to ask "did a
 * condition fail?", use `isTransactionConditionFailed`.
 */
export function isTransactionCanceled(
  error: unknown,
): error is { CancellationReasons?: CancellationReason[] } {
  return errorName(error) === 'TransactionCanceledException';
}

/**
 * Cancellation reasons that say nothing about the items' state: another transaction held
 * an item, or the table or an index was throttled. Nothing was written, and the same
 * transaction may pass if sent again.
 */
const transientReasons = new Set(['TransactionConflict', 'ThrottlingError', 'ProvisionedThroughputExceeded']);

/** The reason codes of a cancelled transaction, one per item (none for any other error). */
function reasonCodes(error: unknown): string[] {
  if (!isTransactionCanceled(error)) return [];
  return (error.CancellationReasons ?? []).map((r) => r.Code ?? 'None');
}

/**
 * A transaction cancelled because a condition failed, and for nothing else: at least one
 * `ConditionalCheckFailed`, every other item `None`. A transaction cancelled by a
 * `TransactionConflict` or throttling (even alongside a failed condition) is not: the
 * items are as they were, and a caller that read it as "lost the race" would act on a
 * race nobody won.
 */
export function isTransactionConditionFailed(error: unknown): boolean {
  const codes = reasonCodes(error);
  return (
    codes.includes('ConditionalCheckFailed') &&
    codes.every((code) => code === 'ConditionalCheckFailed' || code === 'None')
  );
}

/** A transaction cancelled by a conflict with another transaction or by throttling: sending it again may pass. */
export function isTransientCancellation(error: unknown): boolean {
  return reasonCodes(error).some((code) => transientReasons.has(code));
}

/**
 * Tries of `transactWrite` in all, and the backoff between them (the SDK retries no
 * cancelled transaction itself): waits below 40, 80, 160, 320 and 640 ms.
 */
const TRANSACTION_RETRY = { maxAttempts: 6, baseDelayMs: 40, maxDelayMs: 1000 };

/**
 * Sends a `TransactWriteItems`, and sends it again with backoff while it is cancelled
 * only transiently (`isTransientCancellation`): a cancelled transaction wrote nothing,
 * so the same one may be sent again. Any other error, a failed condition included, is
 * thrown at once; so is the last transient cancellation when every attempt met one
 * (`isRetryableError` says yes to it, for a caller that retries later). `client` is the
 * handlers' document client unless a store built over another table passes its own.
 */
export async function transactWrite(
  input: TransactWriteCommandInput,
  client: DynamoDBDocumentClient = documents,
): Promise<void> {
  await retry(() => client.send(new TransactWriteCommand(input)), {
    ...TRANSACTION_RETRY,
    retryable: isTransientCancellation,
  });
}

const retryableNames = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TimeoutError',
]);
const retryableCodes = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);

/**
 * A failure that may pass if the same request is sent again later: throttling, a 5xx,
 * a dropped connection, a transaction cancelled by a conflict or throttling. The SDK
 * retries most of these a few times itself (`transactWrite` the cancellations); this
 * tells a caller whose own retry outlasts those (the batch writer) that it may go on.
 */
export function isRetryableError(error: unknown): boolean {
  const e = error as
    | { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown }
    | undefined;
  if (!e) return false;
  return (
    retryableNames.has(e.name ?? '') ||
    retryableCodes.has(e.code ?? '') ||
    e.$retryable !== undefined ||
    (e.$metadata?.httpStatusCode ?? 0) >= 500 ||
    isTransientCancellation(error)
  );
}
