/**
 * The dispatch core's ports as deployed: recipients, checkpoints and the ledger in
 * DynamoDB, the delivery queue in SQS.
 */
import { randomUUID } from 'node:crypto';
import { sendMessageBatch } from '#shared/adapters/sqs.ts';
import { paceOf, webhookOf } from '#shared/domain/destinations.ts';
import { ConflictError } from '#shared/errors.ts';
import {
  fixChunkSize,
  readCampaign,
  readCampaignStatus,
  transitionCampaign,
} from '#shared/store/campaigns.ts';
import { readDestination } from '#shared/store/destinations.ts';
import { commitDispatchedPage, readCheckpoint, recipientsAfter, sweepPage } from '#shared/store/dispatch.ts';
import { settlingChunks, settlingItem } from '#shared/store/ledger.ts';
import { markQueued, type RecipientItem, variablesOf } from '#shared/store/recipients.ts';
import { type Deliverer, skipAll } from './deliver.ts';
import type { DispatchPorts } from './dispatch.ts';

/** The deployment's default channel, as the dispatch sees it: its batch size and its rate, if any. */
export interface DefaultDestination {
  batchSize: number;
  ratePerSecond: number | undefined;
}

export function awsDispatchPorts(deliverer: Deliverer, deployment: DefaultDestination): DispatchPorts {
  return {
    destinations: {
      async chunkLimit(appId) {
        const item = await readDestination(appId);
        const batchSize = webhookOf(item)?.batchSize ?? deployment.batchSize;
        return Math.min(batchSize, paceOf(appId, item, deployment)?.burst ?? batchSize);
      },
    },
    campaigns: {
      read: readCampaign,
      fixChunkSize,
      status: readCampaignStatus,
      async startScheduled(storeId, campaignId) {
        try {
          return await transitionCampaign(storeId, campaignId, ['scheduled'], 'sending');
        } catch (error) {
          if (!(error instanceof ConflictError)) throw error;
          return readCampaign(storeId, campaignId);
        }
      },
    },
    checkpoints: {
      read: readCheckpoint,
      commit: commitDispatchedPage,
      async sweep(storeId, campaignId, shard, previous, next, chunks) {
        const token = randomUUID();
        const swept = chunks.map((chunk) => ({
          chunk,
          userIds: chunk.recipients.map((r) => r.userId),
          item: settlingItem(deliverer.refOf(storeId, campaignId, chunk), skipAll(chunk), token, 'pending'),
        }));
        const put = await sweepPage(storeId, campaignId, shard, previous, next, swept);
        return put.map((p) => (p as (typeof swept)[number]).chunk);
      },
    },
    recipients: {
      after: recipientsAfter,
      markQueued: (storeId, campaignId, shard, page) =>
        markQueued(storeId, campaignId, shard, page as readonly RecipientItem[]),
    },
    queue: { send: sendMessageBatch },
    ledger: {
      settling: settlingChunks,
      variablesOf,
      finishSwept: deliverer.finishSwept,
      settleUnqueued: deliverer.settleUnqueued,
      finishSettling: deliverer.finishSettling,
    },
    clock: { now: () => Date.now() },
  };
}
