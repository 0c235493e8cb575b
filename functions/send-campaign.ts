/**
 * The send function: puts a campaign's recipients on the delivery queue
 * (docs/delivery.md, Sending). Started with `{ appId, campaignId }` by the send API
 * (asynchronously), by the campaign's schedule, and by the cancel API (to sweep).
 *
 * - `scheduled` → moved to `sending` (the schedule fired), then dispatched;
 * - `sending` → dispatched, resuming from the per-shard checkpoints;
 * - `cancelled` → recipients never put on the queue become `skipped`;
 * - anything else → nothing to do.
 *
 * Dispatch reads each shard page by page, packs a page into messages, sends them with
 * `SendMessageBatch` (retrying only the failed entries), then commits the shard's
 * checkpoint and the campaign's counters in one transaction. A run that dies between
 * sending a page and committing it re-sends that one page when it runs again; the
 * consumer's conditional claim makes the repeat harmless.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { recipientShards } from '#shared/adapters/dynamodb.ts';
import { deliveryQueueUrl, sqs } from '#shared/adapters/sqs.ts';
import { dispatchConfig } from '#shared/config.ts';
import {
  type DeliveryBatchHeader,
  DeliveryBatchPacker,
  type SendBatchEntry,
  SendBatchGrouper,
} from '#shared/domain/delivery-batches.ts';
import type { Campaign } from '#shared/domain/model.ts';
import { NOTIFICATION_ID_PREFIX, storeAppId } from '#shared/domain/sending.ts';
import { ConflictError } from '#shared/errors.ts';
import { lambdaStack } from '#shared/lambda.ts';
import { logger, metrics } from '#shared/observability.ts';
import { transitionCampaign } from '#shared/store/campaigns.ts';
import {
  CheckpointMovedError,
  commitDispatchedPage,
  markQueued,
  readCampaign,
  readCheckpoint,
  recipientsAfter,
  sweepPage,
} from '#shared/store/deliveries.ts';

const sendEvent = z.object({ appId: z.string().min(1), campaignId: z.string().min(1) });

const {
  DISPATCH_PAGE_SIZE: PAGE_SIZE,
  DISPATCH_SHARD_CONCURRENCY: SHARD_CONCURRENCY,
  DISPATCH_MARK_QUEUED: MARK_QUEUED,
} = dispatchConfig();
/** Recipients per sweep transaction: 2 of its 100 items are the checkpoint and the counters. */
const SWEEP_PAGE_SIZE = 98;
/** How long a read of the campaign's status is reused by the between-pages check. */
const STATUS_TTL_MS = 250;
const SEND_ATTEMPTS = 8;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface SendResult {
  /** What the run did: dispatched, swept a cancelled campaign, or nothing. */
  action: 'dispatched' | 'swept' | 'none';
  enqueuedRecipients: number;
  enqueuedMessages: number;
  skipped: number;
}

/** Runs `work` for shards 0..n-1, at most `limit` at once. */
async function forEachShard(limit: number, work: (shard: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < recipientShards) {
      const shard = next;
      next += 1;
      await work(shard);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, recipientShards) }, worker));
}

/**
 * Sends one `SendMessageBatch`, resending only the entries SQS reports failed, with
 * backoff; an entry that succeeded is never sent again.
 */
export async function sendEntries(entries: readonly SendBatchEntry[]): Promise<void> {
  let remaining = [...entries];
  for (let attempt = 1; remaining.length > 0; attempt += 1) {
    let failed: { Id?: string; SenderFault?: boolean; Message?: string }[];
    try {
      const result = await sqs.send(
        new SendMessageBatchCommand({ QueueUrl: deliveryQueueUrl, Entries: remaining }),
      );
      failed = result.Failed ?? [];
    } catch (error) {
      // The whole call failed (network, throttling): every entry is still to send.
      if (attempt >= SEND_ATTEMPTS) throw error;
      await sleep(Math.min(5000, 100 * 2 ** attempt));
      continue;
    }
    const ids = new Set(failed.map((f) => f.Id));
    remaining = remaining.filter((e) => ids.has(e.Id));
    if (remaining.length === 0) return;
    const fault = failed.find((f) => f.SenderFault);
    if (fault || attempt >= SEND_ATTEMPTS) {
      throw new Error(
        `SendMessageBatch: ${remaining.length} entries failed after ${attempt} attempts: ${fault?.Message ?? failed[0]?.Message ?? 'unknown'}`,
      );
    }
    await sleep(Math.min(5000, 100 * 2 ** attempt));
  }
}

function headerOf(appId: string, campaign: Campaign): DeliveryBatchHeader {
  return campaign.id.startsWith(NOTIFICATION_ID_PREFIX)
    ? { kind: 'notification', appId, notificationId: campaign.id, templateId: campaign.templateId }
    : { kind: 'campaign', appId, campaignId: campaign.id, templateId: campaign.templateId };
}

/** Dispatches a `sending` campaign; stops a shard early once the campaign is cancelled. */
async function dispatch(
  appId: string,
  storeId: string,
  campaign: Campaign,
  result: SendResult,
): Promise<boolean> {
  const header = headerOf(appId, campaign);
  let statusReadAt = 0;
  let cancelled = false;
  let reading: Promise<void> | undefined;
  const stillSending = async () => {
    if (!cancelled && Date.now() - statusReadAt > STATUS_TTL_MS) {
      reading ??= readCampaign(storeId, campaign.id).then((c) => {
        statusReadAt = Date.now();
        cancelled = c?.status !== 'sending';
        reading = undefined;
      });
      await reading;
    }
    return !cancelled;
  };

  await forEachShard(SHARD_CONCURRENCY, async (shard) => {
    let previous = await readCheckpoint(storeId, campaign.id, shard);
    for (;;) {
      if (!(await stillSending())) return;
      const page = await recipientsAfter(storeId, campaign.id, shard, previous, PAGE_SIZE);
      const last = page.at(-1);
      if (!last) return;
      // One page makes whole messages of its own, so the checkpoint falls between messages.
      const packer = new DeliveryBatchPacker(header);
      const grouper = new SendBatchGrouper();
      const calls: SendBatchEntry[][] = [];
      const addBody = (body: string | undefined) => {
        if (body === undefined) return;
        result.enqueuedMessages += 1;
        const entries = grouper.add(body);
        if (entries) calls.push(entries);
      };
      for (const recipient of page)
        addBody(packer.add({ userId: recipient.userId, variables: recipient.variables }));
      addBody(packer.flush());
      const rest = grouper.flush();
      if (rest) calls.push(rest);
      await Promise.all(calls.map(sendEntries));
      if (MARK_QUEUED) await markQueued(storeId, campaign.id, shard, page);
      try {
        await commitDispatchedPage(storeId, campaign.id, shard, previous, last.sk, page.length);
        previous = last.sk;
        result.enqueuedRecipients += page.length;
      } catch (error) {
        if (!(error instanceof CheckpointMovedError)) throw error;
        // Another run (or a sweep) moved on: carry on from where it got to.
        previous = await readCheckpoint(storeId, campaign.id, shard);
      }
    }
  });
  return cancelled;
}

/** Turns the recipients of a cancelled campaign that were never put on the queue into `skipped`. */
async function sweep(storeId: string, campaignId: string, result: SendResult): Promise<void> {
  await forEachShard(SHARD_CONCURRENCY, async (shard) => {
    let previous = await readCheckpoint(storeId, campaignId, shard);
    for (;;) {
      const page = await recipientsAfter(storeId, campaignId, shard, previous, SWEEP_PAGE_SIZE);
      const last = page.at(-1);
      if (!last) return;
      try {
        result.skipped += await sweepPage(storeId, campaignId, shard, previous, page);
        previous = last.sk;
      } catch (error) {
        if (!(error instanceof CheckpointMovedError)) throw error;
        previous = await readCheckpoint(storeId, campaignId, shard);
      }
    }
  });
}

/** Sends, resumes or sweeps the campaign (see the module comment). */
export async function sendCampaign(appId: string, campaignId: string): Promise<SendResult> {
  const result: SendResult = { action: 'none', enqueuedRecipients: 0, enqueuedMessages: 0, skipped: 0 };
  const storeId = storeAppId(appId, campaignId);
  let campaign = await readCampaign(storeId, campaignId);
  if (campaign?.status === 'scheduled') {
    try {
      campaign = await transitionCampaign(storeId, campaignId, ['scheduled'], 'sending');
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      campaign = await readCampaign(storeId, campaignId);
    }
  }
  if (!campaign) {
    logger.warn('send: no such campaign', { appId, campaignId });
    return result;
  }
  let cancelled = campaign.status === 'cancelled';
  if (campaign.status === 'sending') {
    result.action = 'dispatched';
    cancelled = await dispatch(appId, storeId, campaign, result);
  }
  if (cancelled) {
    result.action = 'swept';
    await sweep(storeId, campaignId, result);
  }
  if (result.enqueuedMessages > 0) {
    metrics.addMetric('messagesEnqueued', MetricUnit.Count, result.enqueuedMessages);
    metrics.addMetric('recipientsEnqueued', MetricUnit.Count, result.enqueuedRecipients);
  }
  logger.info('send: done', { appId, campaignId, status: campaign.status, ...result });
  return result;
}

/** The stack publishes the metrics `sendCampaign` adds once the invocation ends. */
export const handler = lambdaStack<unknown, SendResult>().handler(async (event) => {
  const { appId, campaignId } = sendEvent.parse(event);
  return sendCampaign(appId, campaignId);
});
