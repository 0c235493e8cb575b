/**
 * Crash tests: the state a user would see, read straight from the test file's runtime's
 * table and the outbox.
 */
import { readOutbox } from '#shared/adapters/outbox-channel.ts';
import { createCampaignsStore } from '#shared/store/campaigns.ts';
import { currentTable } from '#test/support/current-runtime.ts';

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
  return createCampaignsStore(currentTable()).readCampaign(appId, campaignId);
}
