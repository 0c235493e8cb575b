/**
 * The deliver consumer: an SQS-triggered function that delivers the chunks of each
 * delivery message through the channel (`shared/delivery/deliver.ts`, docs/delivery.md)
 * and reports partial batch failures with Powertools batch. A message that does not
 * parse, or that left a chunk for later, is reported failed and given a backoff before
 * its next receive; after the queue's last receive it goes to the dead-letter queue.
 * A paced destination's chunks that have no tokens yet go back on the queue as a new,
 * delayed message (docs/delivery.md, "Pacing"), and the effective rate of each bucket
 * is logged and metered when it changes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { deliveryChannel, webhookTimingOf } from '#shared/adapters/channel.ts';
import { secretCipher } from '#shared/adapters/secret-cipher.ts';
import { deliveryQueueUrl, sendMessageBatch, sqs } from '#shared/adapters/sqs.ts';
import { deliveryConfig, destinationConfig, paceConfig, retryConfig } from '#shared/config.ts';
import { awsDeliverPorts, deploymentShardOf } from '#shared/delivery/aws-ports.ts';
import { createChannelResolver } from '#shared/delivery/channels.ts';
import { createDeliverer, DELIVERY_OUTCOME_UNKNOWN } from '#shared/delivery/deliver.ts';
import { createPacer } from '#shared/delivery/pacing.ts';
import { claimCutoffMs } from '#shared/delivery/time-budget.ts';
import type { DeliveryChannel } from '#shared/domain/channel.ts';
import {
  type DeliveryBatch,
  InvalidDeliveryBatchError,
  parseDeliveryBatch,
} from '#shared/domain/delivery-batches.ts';
import { retryDelaySeconds } from '#shared/domain/sending.ts';
import { lambdaStack } from '#shared/lambda.ts';
import { logger, metrics } from '#shared/observability.ts';
import { deliveryQueue } from '#shared/resources.ts';
import { readDestination } from '#shared/store/destinations.ts';
import { dynamoBucketStore } from '#shared/store/pacing.ts';

export { DELIVERY_OUTCOME_UNKNOWN };

export interface DeliverHandlerOptions {
  /** The deployment's default channel, for apps without a destination of their own. */
  channel: DeliveryChannel;
  /** Receives after which a failing chunk is given up (the queue's maxReceiveCount). */
  maxReceiveCount?: number;
  /** Test seam: runs when a chunk is settled, before it is counted. */
  beforeCounting?: () => void | Promise<void>;
}

/** The metric of each outcome this receive counted. */
const COUNTED_METRICS = [
  ['sent', 'deliveriesSent'],
  ['failed', 'deliveriesFailed'],
  ['skipped', 'deliveriesSkipped'],
] as const;

/** A message handed back for a later receive; not an error of the code. */
class TryAgainLater extends Error {}

/** Builds the consumer around a delivery channel (the deployed one uses the configured channel). */
export function createDeliverHandler(options: DeliverHandlerOptions) {
  const retry = retryConfig();
  const timing = webhookTimingOf(deliveryConfig());
  const destinations = destinationConfig();
  const channels = createChannelResolver({
    defaultChannel: options.channel,
    read: readDestination,
    cipher: secretCipher,
    webhook: { ...timing, policy: { allowLoopback: destinations.DESTINATION_ALLOW_LOOPBACK } },
    cacheMs: destinations.DESTINATION_CACHE_MS,
    defaultRatePerSecond: paceConfig().DELIVERY_RATE_PER_SECOND,
  });
  const pacer = createPacer({
    store: dynamoBucketStore,
    clock: { now: () => Date.now() },
    // A lost conditional write backs off before reading again, so a herd of consumers gets through.
    sleep,
    onRateChange(bucket, rate, configured) {
      logger.info('deliver: effective rate changed', { bucket, ratePerSecond: rate, configured });
      metrics.addMetric('effectiveRatePerSecond', MetricUnit.CountPerSecond, rate);
    },
  });
  const pacing = {
    pacer,
    async requeue(batch: DeliveryBatch, delaySeconds: number) {
      await sendMessageBatch([
        { Id: 'paced', MessageBody: JSON.stringify(batch), DelaySeconds: delaySeconds },
      ]);
    },
  };
  const deliverer = createDeliverer(awsDeliverPorts(channels, pacing), {
    maxReceiveCount: options.maxReceiveCount ?? deliveryQueue.maxReceiveCount,
    claimCutoffMs: claimCutoffMs(timing, deliveryQueue.consumerTimeoutSeconds * 1000),
    shardOf: deploymentShardOf,
    ...(options.beforeCounting ? { beforeCounting: options.beforeCounting } : {}),
  });

  /** The message comes back after base × 2^(receives − 1) seconds rather than the queue's visibility timeout. */
  async function backOff(record: SQSRecord, receiveCount: number): Promise<void> {
    try {
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: deliveryQueueUrl,
          ReceiptHandle: record.receiptHandle,
          VisibilityTimeout: retryDelaySeconds(
            receiveCount,
            retry.DELIVERY_RETRY_BASE_SECONDS,
            retry.DELIVERY_RETRY_MAX_SECONDS,
          ),
        }),
      );
    } catch (error) {
      // The message still comes back, after the queue's visibility timeout.
      logger.warn('deliver: could not shorten the visibility timeout', {
        messageId: record.messageId,
        error,
      });
    }
  }

  const deliver = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    const timeLeft = () => context.getRemainingTimeInMillis();
    const record = async (record: SQSRecord) => {
      const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1');
      try {
        const batch = parseDeliveryBatch(record.body);
        const result = await deliverer.deliverMessage({
          batch,
          messageId: record.messageId,
          receiveCount,
          timeLeft,
        });
        for (const [status, metric] of COUNTED_METRICS) {
          if (result.counted[status] > 0) metrics.addMetric(metric, MetricUnit.Count, result.counted[status]);
        }
        if (result.requeued) {
          metrics.addMetric('recipientsPaced', MetricUnit.Count, result.requeued.recipients);
          logger.debug('deliver: chunks wait for their tokens on the queue', {
            messageId: record.messageId,
            ...result.requeued,
          });
        }
        if (result.retry !== undefined) {
          logger.warn('deliver: some chunks will be tried again', {
            messageId: record.messageId,
            reason: result.retry,
          });
          throw new TryAgainLater(result.retry);
        }
      } catch (error) {
        if (error instanceof InvalidDeliveryBatchError) {
          // Not the error itself: its cause (a JSON.parse error) quotes the body, user data included.
          logger.error('deliver: unreadable message', {
            messageId: record.messageId,
            problem: error.message,
          });
        } else if (!(error instanceof TryAgainLater)) {
          logger.error('deliver: message failed', { messageId: record.messageId, error });
        }
        await backOff(record, receiveCount);
        throw error;
      }
    };
    // One processor per invocation: the local runtime runs several invocations at once.
    return processPartialResponse(event, record, new BatchProcessor(EventType.SQS), {
      throwOnFullBatchFailure: false,
    });
  };
  // The stack publishes the metrics once the invocation ends.
  return lambdaStack<SQSEvent, SQSBatchResponse, Context>().handler(deliver);
}

export const handler = createDeliverHandler({ channel: deliveryChannel });
