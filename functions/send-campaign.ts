/**
 * The send function: puts a campaign's recipients on the delivery queue, or sweeps a
 * cancelled one (`shared/delivery/dispatch.ts`, docs/delivery.md), and copies a follow-up's
 * recipients (`shared/store/follow-ups.ts`). Started with
 * `{ appId, campaignId }` by the send API (asynchronously), by the campaign's schedule,
 * by the cancel API (to sweep), by the follow-up API (to copy), and by their backstops.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { defaultTable } from '#shared/adapters/dynamodb.ts';
import { dispatchConfig, paceConfig } from '#shared/config.ts';
import { awsDispatchPorts } from '#shared/delivery/aws-dispatch.ts';
import { awsDeliverPorts, deploymentShardOf } from '#shared/delivery/aws-ports.ts';
import { oneChannel } from '#shared/delivery/channels.ts';
import { createDeliverer } from '#shared/delivery/deliver.ts';
import { createDispatcher, type DispatchPorts, type SendResult } from '#shared/delivery/dispatch.ts';
import type { DeliveryChannel } from '#shared/domain/channel.ts';
import { CHUNK_MAX_RECIPIENTS } from '#shared/domain/delivery-batches.ts';
import { MAX_DESTINATION_BATCH_SIZE } from '#shared/domain/destinations.ts';
import { lambdaStack } from '#shared/lambda.ts';
import { logger, metrics } from '#shared/observability.ts';
import { deliveryQueue } from '#shared/resources.ts';
import { copyFollowUpRecipients } from '#shared/store/follow-ups.ts';

export type { SendResult };

/** The send function delivers nothing: a channel that refuses. */
const noChannel: DeliveryChannel = {
  name: 'none',
  maxBatchSize: CHUNK_MAX_RECIPIENTS,
  deliverBatch: async () => {
    throw new Error('the send function delivers nothing');
  },
};

const sendEvent = z.object({ appId: z.string().min(1), campaignId: z.string().min(1) });
const config = dispatchConfig();

/**
 * The send function's dispatcher over the deployed ports; `wrap` may hold one of them
 * back (a test forcing an interleaving of dispatch and a cancel's sweep).
 */
export function createSendDispatcher(wrap: (ports: DispatchPorts) => DispatchPorts = (ports) => ports) {
  return createDispatcher(
    wrap(
      awsDispatchPorts(
        // The sweep settles chunks through the deliverer's ledger path; it never calls a channel.
        createDeliverer(awsDeliverPorts(oneChannel(noChannel)), {
          maxReceiveCount: deliveryQueue.maxReceiveCount,
          claimCutoffMs: 0,
          shardOf: deploymentShardOf,
        }),
        // Apps on the deployment's default get the largest chunks its pace allows; its channel
        // splits them as it needs.
        { batchSize: MAX_DESTINATION_BATCH_SIZE, ratePerSecond: paceConfig().DELIVERY_RATE_PER_SECOND },
      ),
    ),
    {
      shards: defaultTable().recipientShards,
      pageSize: config.DISPATCH_PAGE_SIZE,
      shardConcurrency: config.DISPATCH_SHARD_CONCURRENCY,
      chunkSize: config.DISPATCH_CHUNK_SIZE,
      markQueued: config.DISPATCH_MARK_QUEUED,
    },
  );
}

const dispatcher = createSendDispatcher();

/** Sends, resumes or sweeps the campaign (see `shared/delivery/dispatch.ts`). */
export async function sendCampaign(appId: string, campaignId: string): Promise<SendResult> {
  const { result, status } = await dispatcher.sendCampaign(appId, campaignId);
  if (status === undefined) logger.warn('send: no such campaign', { appId, campaignId });
  if (result.enqueuedMessages > 0) {
    metrics.addMetric('messagesEnqueued', MetricUnit.Count, result.enqueuedMessages);
    metrics.addMetric('recipientsEnqueued', MetricUnit.Count, result.enqueuedRecipients);
  }
  logger.info('send: done', { appId, campaignId, status, ...result });
  return result;
}

/** The stack publishes the metrics `sendCampaign` adds once the invocation ends. */
export const handler = lambdaStack<unknown, SendResult>().handler(async (event) => {
  const { appId, campaignId } = sendEvent.parse(event);
  // A follow-up's draft still filling is copied first (then it is a draft: nothing to send).
  await copyFollowUpRecipients(appId, campaignId);
  return sendCampaign(appId, campaignId);
});
