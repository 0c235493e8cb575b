/**
 * Dispatch throughput (docs/design.md: 100,000 recipients onto SQS at least at the rate
 * of a bare `Query` of the same recipients, shards in parallel, followed by a bare
 * `SendMessageBatch` loop of the same bodies; same emulators, same run).
 *
 * Stores 100,000 recipients of a `sending` campaign, runs the real send function
 * (`sendCampaign`: shard queries, packing, `SendMessageBatch`, checkpoint + counter
 * transactions), then sends the same message bodies with a bare loop of
 * `SendMessageBatch` calls, and reads the same recipients with bare `Query` pages of
 * every shard at once. No consumer runs meanwhile; the queue is purged after each run.
 * `node bench/dispatch.ts` prints the table.
 */
import { fileURLToPath } from 'node:url';
import { PurgeQueueCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import pLimit from 'p-limit';
import { startLocalRuntime } from '#infra/local/runtime.ts';
import { storeBenchTemplate } from './fixtures.ts';

export interface DispatchBench {
  dispatch: {
    recipients: number;
    messages: number;
    bytes: number;
    seconds: number;
    bareSeconds: number;
    recipientsPerSecond: number;
    bareSendRecipientsPerSecond: number;
    /** dispatch time / bare send time (for scale: the target is against a bare read plus send). */
    ratio: number;
    /** Bare `Query` pages (1 MB each) reading the same recipients, no sending. */
    bareReadSeconds: number;
    /**
     * Writing the 100,000 recipient items (BatchWriteItem): about what a dispatcher that
     * re-wrote each recipient to `queued` would add.
     */
    writeSeconds: number;
    /** Bare read plus bare send: the floor for anything that reads recipients from DynamoDB. */
    bareReadAndSendRecipientsPerSecond: number;
  };
}

export async function benchDispatch(
  options: { recipients?: number; concurrency?: number } = {},
): Promise<DispatchBench> {
  const count = options.recipients ?? 100_000;
  const concurrency = options.concurrency ?? 8;
  const runtime = await startLocalRuntime({ port: 0, deliveryConcurrency: 0 });
  try {
    const { newId } = await import('#shared/domain/keys.ts');
    const { newCampaign } = await import('#shared/domain/campaigns.ts');
    const { createCampaign, transitionCampaign } = await import('#shared/store/campaigns.ts');
    const { addRecipients, numberedRecipients } = await import('#test/support/recipients.ts');
    const { sendCampaign } = await import('#functions/send-campaign.ts');
    const { packDeliveryBatches, groupSendBatches } = await import('#shared/domain/delivery-batches.ts');

    const appId = runtime.appId;
    const now = new Date().toISOString();
    const templateId = await storeBenchTemplate(appId);
    const campaign = newCampaign({ name: 'bench', templateId }, { id: newId('cmp'), appId, now });
    await createCampaign(campaign);
    const recipients = numberedRecipients(count);
    const writeStarted = performance.now();
    await addRecipients(appId, campaign.id, recipients, runtime.table);
    const writeSeconds = (performance.now() - writeStarted) / 1000;
    await transitionCampaign(appId, campaign.id, ['draft'], 'sending');

    const sqs = new SQSClient({});
    const queueUrl = process.env.DELIVERY_QUEUE_URL as string;

    const { QueryCommand } = await import('@aws-sdk/lib-dynamodb');
    const { client: documents, recipientShards, tableName } = runtime.table;
    const { recipientPk } = await import('#shared/domain/keys.ts');
    /** Seconds to read every recipient with bare `Query` pages (1 MB each), every shard at once. */
    const bareRead = async () => {
      const readStarted = performance.now();
      let read = 0;
      await Promise.all(
        Array.from({ length: recipientShards }, async (_, shard) => {
          let startKey: Record<string, unknown> | undefined;
          do {
            const page = await documents.send(
              new QueryCommand({
                TableName: tableName,
                KeyConditionExpression: 'pk = :pk',
                ExpressionAttributeValues: { ':pk': recipientPk(appId, campaign.id, shard) },
                ExclusiveStartKey: startKey,
              }),
            );
            read += page.Items?.length ?? 0;
            startKey = page.LastEvaluatedKey;
          } while (startKey);
        }),
      );
      if (read !== count) throw new Error(`bare read found ${read} of ${count} recipients`);
      return (performance.now() - readStarted) / 1000;
    };
    const readBeforeSeconds = await bareRead();

    const started = performance.now();
    const result = await sendCampaign(appId, campaign.id);
    const seconds = (performance.now() - started) / 1000;
    if (result.enqueuedRecipients !== count) {
      throw new Error(`dispatched ${result.enqueuedRecipients} of ${count} recipients`);
    }
    await sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));

    // The same bodies: same header, same recipients, same packing.
    const bodies = [
      ...packDeliveryBatches(
        { kind: 'campaign', appId, campaignId: campaign.id, templateId },
        recipients.map((r) => ({ userId: r.userId, variables: r.variables ?? {} })),
      ),
    ];
    const bytes = bodies.reduce((n, b) => n + Buffer.byteLength(b), 0);
    const calls = [...groupSendBatches(bodies)];
    const bareStarted = performance.now();
    await pLimit(concurrency).map(calls, async (entries) => {
      const { Failed = [] } = await sqs.send(
        new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }),
      );
      if (Failed.length > 0) throw new Error(`bare loop: ${Failed.length} entries failed`);
    });
    const bareSeconds = (performance.now() - bareStarted) / 1000;
    await sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));

    // The floor's other half: the same recipients read with bare Query pages, every shard at
    // once, as the send function reads them. Once before the send function ran and once after,
    // the faster taken, so neither side gains from a JVM that warmed up on the other.
    const readAfterSeconds = await bareRead();
    const readSeconds = Math.min(readBeforeSeconds, readAfterSeconds);

    return {
      dispatch: {
        recipients: count,
        messages: result.enqueuedMessages,
        bytes,
        seconds,
        bareSeconds,
        recipientsPerSecond: Math.round(count / seconds),
        bareSendRecipientsPerSecond: Math.round(count / bareSeconds),
        ratio: seconds / bareSeconds,
        bareReadSeconds: readSeconds,
        writeSeconds,
        bareReadAndSendRecipientsPerSecond: Math.round(count / (readSeconds + bareSeconds)),
      },
    };
  } finally {
    await runtime.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { dispatch } = await benchDispatch();
  console.table({
    'send function': { seconds: dispatch.seconds.toFixed(2), 'recipients/s': dispatch.recipientsPerSecond },
    'bare SendMessageBatch': {
      seconds: dispatch.bareSeconds.toFixed(2),
      'recipients/s': dispatch.bareSendRecipientsPerSecond,
    },
    'bare Query (read only)': {
      seconds: dispatch.bareReadSeconds.toFixed(2),
      'recipients/s': Math.round(dispatch.recipients / dispatch.bareReadSeconds),
    },
    'bare Query + bare send': {
      seconds: (dispatch.bareReadSeconds + dispatch.bareSeconds).toFixed(2),
      'recipients/s': dispatch.bareReadAndSendRecipientsPerSecond,
    },
    'write 100k items (BatchWrite)': {
      seconds: dispatch.writeSeconds.toFixed(2),
      'recipients/s': Math.round(dispatch.recipients / dispatch.writeSeconds),
    },
  });
  console.log(
    `${dispatch.recipients} recipients, ${dispatch.messages} messages, ${(dispatch.bytes / 1024 / 1024).toFixed(1)} MiB; ratio to bare Query + send ${(dispatch.recipientsPerSecond / dispatch.bareReadAndSendRecipientsPerSecond).toFixed(2)} (target >= 1.0)`,
  );
}
