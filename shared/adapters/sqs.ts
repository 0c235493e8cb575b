/**
 * The SQS client, created once per process and traced (a no-op outside Lambda), with the
 * delivery queue it serves.
 */
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import pRetry, { AbortError } from 'p-retry';
import { queueConfig } from '#shared/config.ts';
import { tracer } from '#shared/observability.ts';

/** URL of the delivery queue. */
export const deliveryQueueUrl = queueConfig().DELIVERY_QUEUE_URL;

export const sqs = tracer.captureAWSv3Client(new SQSClient({}));

/** Tries of one `SendMessageBatch` (its failed entries, or the whole call) in all. */
const SEND_ATTEMPTS = 8;

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
  await pRetry(
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
      if (Failed.some((f) => f.SenderFault)) throw new AbortError(message);
      throw new Error(message);
    },
    { retries: SEND_ATTEMPTS - 1, minTimeout: 200, maxTimeout: 5000, factor: 2 },
  );
}
