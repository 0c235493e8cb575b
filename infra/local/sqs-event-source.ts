/**
 * The SQS event source mapping, locally: long-polls a queue, invokes the consumer with
 * an `SQSEvent` of up to `batchSize` records, deletes the messages it did not report in
 * `batchItemFailures`, and leaves those (or the whole batch, if the handler throws) to
 * come back after their visibility timeout, as Lambda does. `concurrency` pollers run
 * at once, like the mapping's maximum concurrency.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { EventHandler } from './async-invoker.ts';
import { lambdaContext } from './lambda-context.ts';

export interface SqsEventSource {
  /**
   * Stops the pollers. By default a receive in progress is abandoned; with `drain`, each
   * poller finishes it (at most the long-poll wait) and invokes the consumer with what
   * it got. An abandoned long poll can still take messages sent in its last moments (the
   * emulator does not see the caller leave), leaving them invisible for the visibility
   * timeout: drain when the queue is used after the pollers stop.
   */
  stop(options?: { drain?: boolean }): Promise<void>;
}

export interface SqsEventSourceOptions {
  client: SQSClient;
  queueUrl: string;
  queueArn: string;
  functionName: string;
  timeoutSeconds: number;
  batchSize?: number;
  concurrency?: number;
  /** Long-poll wait; short so that `stop` is prompt. */
  waitTimeSeconds?: number;
  onError?: (error: unknown) => void;
}

export function startSqsEventSource(
  load: () => Promise<EventHandler<SQSEvent>>,
  options: SqsEventSourceOptions,
): SqsEventSource {
  const abort = new AbortController();
  const batchSize = options.batchSize ?? 10;
  const region = process.env.AWS_REGION ?? 'us-east-1';
  let draining = false;

  const poll = async () => {
    while (!abort.signal.aborted && !draining) {
      let messages: Message[];
      try {
        const result = await options.client.send(
          new ReceiveMessageCommand({
            QueueUrl: options.queueUrl,
            MaxNumberOfMessages: batchSize,
            WaitTimeSeconds: options.waitTimeSeconds ?? 1,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: abort.signal },
        );
        messages = result.Messages ?? [];
      } catch (error) {
        if (abort.signal.aborted) return;
        options.onError?.(error);
        await sleep(500);
        continue;
      }
      if (messages.length === 0) continue;
      const event: SQSEvent = { Records: messages.map((m) => toRecord(m, options.queueArn, region)) };
      let failed: Set<string>;
      try {
        const handler = await load();
        const response = (await handler(
          event,
          lambdaContext(options.functionName, options.timeoutSeconds),
        )) as SQSBatchResponse | undefined;
        failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      } catch (error) {
        // A thrown handler fails the whole batch: nothing is deleted.
        options.onError?.(error);
        continue;
      }
      const done = messages.filter((m) => !failed.has(m.MessageId as string));
      if (done.length === 0) continue;
      try {
        await options.client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: options.queueUrl,
            Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
          }),
        );
      } catch (error) {
        // Undeleted messages come back: consumers are idempotent.
        options.onError?.(error);
      }
    }
  };

  const pollers = Array.from({ length: options.concurrency ?? 2 }, () => poll());
  return {
    async stop(how = {}) {
      if (how.drain) draining = true;
      else abort.abort();
      await Promise.allSettled(pollers);
    },
  };
}

/** The Lambda `SQSRecord` of a received message, as the event source mapping builds it. */
export function toRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId as string,
    receiptHandle: message.ReceiptHandle as string,
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
        name,
        {
          dataType: value.DataType ?? 'String',
          stringValue: value.StringValue,
          binaryValue: value.BinaryValue ? Buffer.from(value.BinaryValue).toString('base64') : undefined,
        },
      ]),
    ),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}
