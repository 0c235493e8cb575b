/**
 * The delivery engine's ports as deployed: the ledger, recipients, campaigns and
 * templates in DynamoDB, the configured channel, the system clock.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultTable } from '#shared/adapters/dynamodb.ts';
import { shardOf } from '#shared/domain/keys.ts';
import type { Template } from '#shared/domain/model.ts';
import { ConflictError } from '#shared/errors.ts';
import { readCampaign, transitionCampaign } from '#shared/store/campaigns.ts';
import { dynamoLedger } from '#shared/store/ledger.ts';
import { projectOutcomes } from '#shared/store/recipients.ts';
import { findTemplate } from '#shared/store/templates.ts';
import type { Channels, DeliverPorts, Pacing } from './ports.ts';

/** Approved templates never change: a process keeps the ones it has read (a few hundred at most). */
const TEMPLATE_CACHE_SIZE = 500;

export function awsDeliverPorts(channels: Channels, pacing?: Pacing): DeliverPorts {
  const templates = new Map<string, Template>();
  return {
    ...(pacing ? { pacing } : {}),
    ledger: dynamoLedger,
    recipients: {
      project: (ref, outcomes) => projectOutcomes(ref.storeId, ref.campaignId, ref.chunkId, outcomes),
    },
    campaigns: {
      progress: (storeId, campaignId) => readCampaign(storeId, campaignId),
      async finish(storeId, campaignId, status, completedAt) {
        try {
          await transitionCampaign(storeId, campaignId, ['sending'], status, { completedAt });
        } catch (error) {
          // Ended by the consumer that counted the last chunk at the same time, or cancelled.
          if (!(error instanceof ConflictError)) throw error;
        }
      },
    },
    templates: {
      async find(appId, templateId) {
        const key = `${appId}/${templateId}`;
        const cached = templates.get(key);
        if (cached) return cached;
        const template = await findTemplate(appId, templateId);
        if (template?.status === 'approved') {
          if (templates.size >= TEMPLATE_CACHE_SIZE) templates.clear();
          templates.set(key, template);
        }
        return template;
      },
    },
    channels,
    clock: { now: () => Date.now() },
    sleep,
    newToken: randomUUID,
  };
}

/** The recipient shard of a user id in this deployment's table. */
export const deploymentShardOf = (userId: string) => shardOf(userId, defaultTable().recipientShards);
