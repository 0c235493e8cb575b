/**
 * Crash tests: the delivery queue driven by hand, as the event source mapping would
 * (the runtime runs with `deliveryConcurrency: 0`): receive, build the `SQSEvent`,
 * delete what the consumer did not report failed.
 */
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { toRecord } from '#infra/local/sqs-event-source.ts';

let client: SQSClient | undefined;
const sqs = () => {
  client ??= new SQSClient({});
  return client;
};
const queueUrl = () => process.env.DELIVERY_QUEUE_URL as string;

/**
 * Receives until `count` distinct messages are in hand (or `timeoutMs` passes), each
 * hidden for `visibilitySeconds`: a message not deleted by then comes back, as after a
 * consumer's crash.
 */
export async function receiveMessages(
  count: number,
  visibilitySeconds: number,
  timeoutMs = 60_000,
): Promise<Message[]> {
  const byId = new Map<string, Message>();
  const deadline = Date.now() + timeoutMs;
  while (byId.size < count && Date.now() < deadline) {
    const { Messages = [] } = await sqs().send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl(),
        MaxNumberOfMessages: Math.min(10, count - byId.size),
        VisibilityTimeout: visibilitySeconds,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    for (const m of Messages) byId.set(m.MessageId as string, m);
  }
  return [...byId.values()];
}

/** The event the event source mapping would invoke the consumer with. */
export async function sqsEvent(messages: readonly Message[]): Promise<SQSEvent> {
  const { Attributes } = await sqs().send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl(), AttributeNames: ['QueueArn'] }),
  );
  const region = process.env.AWS_REGION ?? 'us-east-1';
  return { Records: messages.map((m) => toRecord(m, Attributes?.QueueArn ?? '', region)) };
}

/** Deletes `messages` except those whose id is in `failed` (the consumer's `batchItemFailures`). */
export async function deleteMessages(messages: readonly Message[], failed: ReadonlySet<string> = new Set()) {
  const done = messages.filter((m) => !failed.has(m.MessageId as string));
  for (let i = 0; i < done.length; i += 10) {
    await sqs().send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl(),
        Entries: done
          .slice(i, i + 10)
          .map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle as string })),
      }),
    );
  }
}

/** Messages visible and in flight on the delivery queue. */
export async function queueDepth(): Promise<number> {
  const { Attributes = {} } = await sqs().send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl(),
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}
