/**
 * The deliver consumer: an SQS-triggered function that delivers batches of recipients
 * through the delivery channel and reports partial batch failures
 * (docs/delivery.md, Sending).
 *
 * Per message: parse the body at the edge (a body that does not parse is a failure that
 * ends in the DLQ); load the campaign and template once per invocation. For a cancelled
 * campaign, its unsettled recipients become `skipped`. Otherwise, per recipient: render
 * (a missing variable fails the recipient, no channel call), claim it by moving it to
 * `sent` with a conditional write that records this SQS message id, call the channel,
 * and on failure record `failed` (permanent) or put it back to `queued` and report the
 * message failed (transient), so SQS brings it back after a backoff. On the last
 * receive a still-failing recipient is `failed` too and the message goes to the DLQ.
 *
 * Counters move once per recipient: each message has a marker of the user ids already
 * counted, updated in the same transaction as the campaign's counters. A recipient whose
 * claim fails but whose stored message id is this message's was settled by an earlier,
 * crashed receive of this very message; it is counted now unless the marker has it.
 *
 * A delivered recipient is confirmed (`deliveredAt`) right after the channel's answer.
 * One claimed by this message and never confirmed was left by a receive that died
 * between its claim and the channel's answer: whether the user got the message is
 * unknown, so it is not sent again (never twice) but ends `failed` with
 * `DELIVERY_OUTCOME_UNKNOWN` (never silently lost, never counted as sent).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchItemFailure, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { deliveryQueue } from '#infra/resources.ts';
import { deliveryChannel } from '#shared/adapters/channel.ts';
import { deliveryQueueUrl, sqs } from '#shared/adapters/sqs.ts';
import { retryConfig } from '#shared/config.ts';
import { campaignOutcome } from '#shared/domain/campaign-outcome.ts';
import {
  boundReason,
  type DeliveryChannel,
  idempotencyKeyOf,
  isPermanentDeliveryFailure,
  loggableReason,
  PermanentDeliveryError,
} from '#shared/domain/channel.ts';
import {
  type DeliveryBatch,
  deliveryIdOf,
  InvalidDeliveryBatchError,
  parseDeliveryBatch,
} from '#shared/domain/delivery-batches.ts';
import type { Campaign, Template } from '#shared/domain/model.ts';
import { render } from '#shared/domain/render.ts';
import { retryDelaySeconds, storeAppId } from '#shared/domain/sending.ts';
import { ConflictError } from '#shared/errors.ts';
import { logger, metrics } from '#shared/observability.ts';
import { transitionCampaign } from '#shared/store/campaigns.ts';
import {
  confirmDelivered,
  countSettled,
  failUnconfirmed,
  readCampaign,
  readCountMarker,
  resettleRecipient,
  type SettledStatus,
  settleRecipient,
} from '#shared/store/deliveries.ts';
import { findTemplate } from '#shared/store/templates.ts';

/** The error of a recipient whose delivery a crashed receive left unknown (docs/delivery.md). */
export const DELIVERY_OUTCOME_UNKNOWN =
  'Delivery outcome unknown: the consumer stopped after claiming this recipient and before the channel answered, so the user may or may not have received the message; it is not sent again, so that nobody gets it twice.';

/** Recipients of one message delivered at once. */
const RECIPIENT_CONCURRENCY = 10;
/**
 * No new claim with less time left than this: a claimed recipient's channel call (with
 * the webhook channel's own retries) must end before the function times out.
 */
const CLAIM_CUTOFF_MS = 20_000;

export interface DeliverHandlerOptions {
  channel: DeliveryChannel;
  /** Receives after which a failing message's recipients are given up (the queue's maxReceiveCount). */
  maxReceiveCount?: number;
  /** Test seam: runs after a message's recipients are settled, before they are counted. */
  beforeCounting?: (record: SQSRecord) => void | Promise<void>;
}

/** What one message's processing settled, and whether it must come back. */
interface MessageOutcome {
  settled: Map<string, SettledStatus>;
  /** A transient failure left some recipients for the next receive: why, fit for the logs. */
  retry: string | undefined;
}

/**
 * Runs `work` over `items`, at most `limit` at once. A failure stops new work but waits
 * for the work in flight before it is thrown: the message's next receive must not start
 * while this one is still delivering (it would count a recipient this one then fails).
 */
async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const item = items[next] as T;
      next += 1;
      try {
        await work(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
}

/** Builds the consumer around a delivery channel (the deployed one uses the configured channel). */
export function createDeliverHandler(options: DeliverHandlerOptions) {
  const { channel } = options;
  const maxReceiveCount = options.maxReceiveCount ?? deliveryQueue.maxReceiveCount;
  const retry = retryConfig();

  async function processMessage(
    record: SQSRecord,
    batch: DeliveryBatch,
    timeLeft: () => number,
    load: (
      storeId: string,
      id: string,
    ) => Promise<{ campaign: Campaign | undefined; template: Template | undefined }>,
  ): Promise<MessageOutcome> {
    const id = deliveryIdOf(batch);
    const storeId = storeAppId(batch.appId, id);
    const messageId = record.messageId;
    const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1');
    const lastReceive = receiveCount >= maxReceiveCount;
    const { campaign, template } = await load(storeId, id);
    if (!campaign || !template) throw new Error(`campaign or template of ${batch.kind} '${id}' not found`);
    const marker = await readCountMarker(storeId, id, messageId);
    const settled = new Map<string, SettledStatus>();
    /** For the logs: never the far side's answer, which may echo user data (`loggableReason`). */
    let retryReason: string | undefined;

    /** Settles a recipient; one settled by an earlier receive of this message counts too. */
    const settle = async (userId: string, status: SettledStatus, error?: string) => {
      const change = await settleRecipient(storeId, id, userId, status, messageId, error);
      if (change.changed) return true;
      const old = change.old;
      if (old?.messageId !== messageId) return false;
      if (old.status === 'sent' && old.deliveredAt === undefined) {
        // Claimed by an earlier receive of this message that died before the channel answered.
        if (await failUnconfirmed(storeId, id, userId, messageId, DELIVERY_OUTCOME_UNKNOWN))
          settled.set(userId, 'failed');
        return false;
      }
      if (old.status === 'sent' || old.status === 'failed' || old.status === 'skipped') {
        settled.set(userId, old.status);
      }
      return false;
    };

    if (campaign.status === 'cancelled') {
      await mapLimit(batch.recipients, RECIPIENT_CONCURRENCY, async ({ userId }) => {
        if (await settle(userId, 'skipped')) settled.set(userId, 'skipped');
      });
    } else {
      await mapLimit(batch.recipients, RECIPIENT_CONCURRENCY, async ({ userId, variables }) => {
        let rendered: ReturnType<typeof render>;
        try {
          rendered = render(template, variables);
        } catch (error) {
          if (await settle(userId, 'failed', (error as Error).message)) settled.set(userId, 'failed');
          return;
        }
        if (timeLeft() < CLAIM_CUTOFF_MS) {
          retryReason = 'out of time before delivering every recipient';
          // On the last receive nothing comes back: settle it rather than leave it queued.
          if (
            lastReceive &&
            (await settle(userId, 'failed', `gave up after ${receiveCount} attempts: ${retryReason}`))
          )
            settled.set(userId, 'failed');
          return;
        }
        // The claim: only one receive of one message gets past it.
        if (!(await settle(userId, 'sent'))) return;
        try {
          const [result] = await channel.deliverBatch({
            appId: batch.appId,
            campaignId: id,
            messages: [
              {
                userId,
                title: rendered.title ?? null,
                body: rendered.body,
                idempotencyKey: idempotencyKeyOf(id, userId),
              },
            ],
          });
          if (result === undefined) throw new Error(`channel '${channel.name}' answered no result`);
          if (result.status === 'rejected') {
            throw new PermanentDeliveryError(boundReason(result.reason), {
              summary: `channel '${channel.name}' rejected the message`,
            });
          }
        } catch (error) {
          const reason = (error as Error).message ?? String(error);
          if (isPermanentDeliveryFailure(error) || lastReceive) {
            const why = isPermanentDeliveryFailure(error)
              ? reason
              : `gave up after ${receiveCount} attempts: ${reason}`;
            if (await resettleRecipient(storeId, id, userId, 'sent', 'failed', messageId, why))
              settled.set(userId, 'failed');
            if (!isPermanentDeliveryFailure(error)) retryReason = loggableReason(error);
            return;
          }
          // Back to queued, for the message's next receive.
          await resettleRecipient(storeId, id, userId, 'sent', 'queued', messageId);
          retryReason = loggableReason(error);
          return;
        }
        // Outside the try: a failure to record the answer must not put a delivered recipient back.
        // Refused only if a duplicate receive of this message, running at the same time, took
        // the claim for a dead one and ended it `failed`: that receive counts it.
        if (await confirmDelivered(storeId, id, userId, messageId)) settled.set(userId, 'sent');
      });
    }
    await options.beforeCounting?.(record);
    const uncounted = new Map([...settled].filter(([userId]) => !marker.counted.has(userId)));
    await countSettled(storeId, id, messageId, marker, uncounted);
    let sent = 0;
    let failed = 0;
    for (const status of uncounted.values()) {
      if (status === 'sent') sent += 1;
      else if (status === 'failed') failed += 1;
    }
    if (sent > 0) metrics.addMetric('deliveriesSent', MetricUnit.Count, sent);
    if (failed > 0) metrics.addMetric('deliveriesFailed', MetricUnit.Count, failed);

    // Finished? The counters just moved; a conditional write ends the campaign once.
    const now = await readCampaign(storeId, id);
    if (now) {
      const outcome = campaignOutcome(now);
      if (now.status === 'sending' && outcome.finished) {
        try {
          await transitionCampaign(storeId, id, ['sending'], outcome.status, {
            completedAt: new Date().toISOString(),
          });
        } catch (error) {
          if (!(error instanceof ConflictError)) throw error;
        }
      }
    }
    return { settled, retry: retryReason };
  }

  async function backOff(record: SQSRecord): Promise<void> {
    const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1');
    const seconds = retryDelaySeconds(
      receiveCount,
      retry.DELIVERY_RETRY_BASE_SECONDS,
      retry.DELIVERY_RETRY_MAX_SECONDS,
    );
    try {
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: deliveryQueueUrl,
          ReceiptHandle: record.receiptHandle,
          VisibilityTimeout: seconds,
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

  return async (
    event: SQSEvent,
    context?: Pick<Context, 'getRemainingTimeInMillis'>,
  ): Promise<SQSBatchResponse> => {
    const timeLeft = () => context?.getRemainingTimeInMillis() ?? Number.POSITIVE_INFINITY;
    const campaigns = new Map<string, Promise<Campaign | undefined>>();
    const templates = new Map<string, Promise<Template | undefined>>();
    const failures: SQSBatchItemFailure[] = [];
    await Promise.all(
      event.Records.map(async (record) => {
        let batch: DeliveryBatch;
        try {
          batch = parseDeliveryBatch(record.body);
        } catch (error) {
          // Not the error itself: its cause (a JSON.parse error) quotes the body, user data included.
          logger.error('deliver: unreadable message', {
            messageId: record.messageId,
            problem: error instanceof InvalidDeliveryBatchError ? error.message : 'unreadable',
          });
          failures.push({ itemIdentifier: record.messageId });
          await backOff(record);
          return;
        }
        const load = async (storeId: string, id: string) => {
          const campaignKey = `${storeId}/${id}`;
          if (!campaigns.has(campaignKey)) campaigns.set(campaignKey, readCampaign(storeId, id));
          const templateKey = `${batch.appId}/${batch.templateId}`;
          if (!templates.has(templateKey))
            templates.set(templateKey, findTemplate(batch.appId, batch.templateId));
          // Both awaited at once: a failed read is never left unhandled (it would end the process).
          const [campaign, template] = await Promise.all([
            campaigns.get(campaignKey),
            templates.get(templateKey),
          ]).catch((error: unknown) => {
            // Not cached: the invocation's other messages read again.
            campaigns.delete(campaignKey);
            templates.delete(templateKey);
            throw error;
          });
          return { campaign, template };
        };
        try {
          const outcome = await processMessage(record, batch, timeLeft, load);
          if (outcome.retry !== undefined) {
            logger.warn('deliver: some recipients will be tried again', {
              messageId: record.messageId,
              reason: outcome.retry,
            });
            failures.push({ itemIdentifier: record.messageId });
            await backOff(record);
          }
        } catch (error) {
          logger.error('deliver: message failed', { messageId: record.messageId, error });
          failures.push({ itemIdentifier: record.messageId });
          await backOff(record);
        }
      }),
    );
    metrics.publishStoredMetrics();
    return { batchItemFailures: failures };
  };
}

export const handler = createDeliverHandler({ channel: deliveryChannel });
