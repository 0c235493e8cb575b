/**
 * When a sending campaign is finished, and how it ended. Pure: the consumer calls it
 * with the counters it has just updated (one update per batch) and, when `finished`,
 * moves the campaign from `sending` to `status` with a conditional write, so two
 * consumers finishing at once change it once.
 *
 * - A `sending` campaign is finished once every recipient is settled:
 *   `sent + failed + skipped >= recipientCount`. `pending` and `queued` are not
 *   consulted: they count work in flight, while the settled total only grows.
 * - Its final status: every recipient `sent` → `sent`; none `sent` → `failed`; some
 *   sent and some not (failed or skipped) → `partially_failed`. A campaign with no
 *   recipients (the API refuses to send one) would end `sent`: nothing failed.
 * - Any other status is left as it is: `draft` and `scheduled` are not finished,
 *   `sent`, `partially_failed`, `failed` and `cancelled` already are (a cancelled
 *   campaign stays cancelled whatever its counters say).
 */
import { type CAMPAIGN_TRANSITIONS, isFinalCampaignStatus } from '#shared/domain/campaign-status.ts';
import type { CampaignStatus, RecipientCounts } from '#shared/domain/model.ts';

/** How a send ends once every recipient is settled: where `sending` leads, but `cancelled`. */
export type SettledStatus = Exclude<(typeof CAMPAIGN_TRANSITIONS)['sending'][number], 'cancelled'>;

export interface CampaignProgress {
  status: CampaignStatus;
  recipientCount: number;
  counts: RecipientCounts;
}

export interface CampaignOutcome {
  /** True when the campaign has (or should now have) a terminal status. */
  finished: boolean;
  /** The status it should have: unchanged unless a sending campaign just finished. */
  status: CampaignStatus;
}

/**
 * The final status once every recipient is settled, or undefined while some are not.
 */
export function finalStatus(counts: RecipientCounts, recipientCount: number): SettledStatus | undefined {
  const sent = Math.max(0, counts.sent);
  const undelivered = Math.max(0, counts.failed) + Math.max(0, counts.skipped);
  if (sent + undelivered < recipientCount) return undefined;
  if (undelivered === 0) return 'sent';
  if (sent === 0) return 'failed';
  return 'partially_failed';
}

/** Whether `campaign` is finished and the status it should have (see the module comment). */
export function campaignOutcome(campaign: CampaignProgress): CampaignOutcome {
  if (campaign.status !== 'sending') {
    return { finished: isFinalCampaignStatus(campaign.status), status: campaign.status };
  }
  const status = finalStatus(campaign.counts, campaign.recipientCount);
  return status === undefined ? { finished: false, status: 'sending' } : { finished: true, status };
}
