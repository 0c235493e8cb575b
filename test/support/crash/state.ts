/**
 * Crash tests: the state a user would see, read straight from the table and the outbox.
 * Loaded on use: the stores read TABLE_NAME when they load, which the runtime sets.
 */
import { readOutbox } from '#shared/adapters/outbox-channel.ts';

export { allRecipients } from '#test/support/recipients.ts';

/** Lines per user id of one campaign in an outbox file. */
export async function outboxLines(path: string, campaignId: string): Promise<Map<string, number>> {
  const lines = new Map<string, number>();
  for (const entry of await readOutbox(path)) {
    if (entry.campaignId === campaignId) lines.set(entry.userId, (lines.get(entry.userId) ?? 0) + 1);
  }
  return lines;
}

/** The campaign as stored, counters included. */
export async function storedCampaign(appId: string, campaignId: string) {
  const { readCampaign } = await import('#shared/store/campaigns.ts');
  return readCampaign(appId, campaignId);
}
