/**
 * The DynamoDB client, created once per process and traced (`tracer.captureAWSv3Client`:
 * a no-op outside Lambda). Region, credentials and endpoint (`AWS_ENDPOINT_URL_DYNAMODB`
 * or `AWS_ENDPOINT_URL`) come from the standard AWS environment, so the same code talks
 * to DynamoDB, LocalStack or DynamoDB Local.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { tableConfig } from '#shared/config.ts';
import { tracer } from '#shared/observability.ts';

const config = tableConfig();

/** Name of the single table. */
export const tableName = config.TABLE_NAME;

/** Number of shard partitions a campaign's recipients are spread over. */
export const recipientShards = config.RECIPIENT_SHARDS;

/** Low-level client, for commands the document client does not wrap. */
export const dynamodb = tracer.captureAWSv3Client(new DynamoDBClient({}));

/**
 * Document client: plain JavaScript values in and out, `undefined` fields dropped. It
 * shares the low-level client's middleware stack, and so its tracing.
 */
export const documents = DynamoDBDocumentClient.from(dynamodb, {
  marshallOptions: { removeUndefinedValues: true },
});

const errorName = (error: unknown) => (error as { name?: string } | undefined)?.name;

/** A conditional write whose condition did not hold. */
export function isConditionalCheckFailed(error: unknown): boolean {
  return errorName(error) === 'ConditionalCheckFailedException';
}

/** A cancelled transaction; `CancellationReasons` says which item's condition failed. */
export function isTransactionCanceled(
  error: unknown,
): error is { CancellationReasons?: { Code?: string; Item?: Record<string, unknown> }[] } {
  return errorName(error) === 'TransactionCanceledException';
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
 * a dropped connection. The SDK retries these a few times itself; this tells a caller
 * whose own retry outlasts the SDK's (the batch writer) that it may go on.
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
    (e.$metadata?.httpStatusCode ?? 0) >= 500
  );
}
