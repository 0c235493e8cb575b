/**
 * The SQS client, created once per process and traced (a no-op outside Lambda), with the
 * delivery queue it serves.
 */
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { queueConfig } from '#shared/config.ts';
import { tracer } from '#shared/observability.ts';
import { retry } from '#shared/retry.ts';

/** URL of the delivery queue. */
export const deliveryQueueUrl = queueConfig().DELIVERY_QUEUE_URL;

export const sqs = tracer.captureAWSv3Client(new SQSClient({}));

/**
 * Tries of one `SendMessageBatch` (its failed entries, or the whole call) in all, and the
 * backoff between them: waits below 0.2, 0.4, 0.8, 1.6, 3.2, 5 and 5 s.
 */
const SEND_RETRY = { maxAttempts: 8, baseDelayMs: 200, maxDelayMs: 5000 };

/** Entries of a `SendMessageBatch` that SQS refused as malformed: sending them again cannot help. */
class SenderFaultError extends Error {}

/** One entry of a `SendMessageBatch` call. */
export interface MessageEntry {
  Id: string;
  MessageBody: string;
  /** Seconds before the message can be received (0-900). */
  DelaySeconds?: number;
}

/**
 * Sends one `SendMessageBatch` to the delivery queue, resending only the entries SQS
 * reports failed (and the whole call when it fails), with backoff; an entry that
 * succeeded is never sent again. A sender fault (a malformed entry) is not retried.
 */
export async function sendMessageBatch(entries: readonly MessageEntry[]): Promise<void> {
  let remaining = [...entries];
  await retry(
    async (attempt) => {
      const { Failed = [] } = await sqs.send(
        new SendMessageBatchCommand({ QueueUrl: deliveryQueueUrl, Entries: remaining }),
      );
      const failed = new Set(Failed.map((f) => f.Id));
      remaining = remaining.filter((e) => failed.has(e.Id));
      if (remaining.length === 0) return;
      const message = `SendMessageBatch: ${remaining.length} entries failed after ${attempt} attempts: ${
        Failed.find((f) => f.SenderFault)?.Message ?? Failed[0]?.Message ?? 'unknown'
      }`;
      if (Failed.some((f) => f.SenderFault)) throw new SenderFaultError(message);
      throw new Error(message);
    },
    { ...SEND_RETRY, retryable: (error) => !(error instanceof SenderFaultError) },
  );
}
