/**
 * The campaign state machine of docs/api.md: `draft` → `scheduled` → `sending` →
 * `sent` | `partially_failed` | `failed`, and `cancelled` from `draft`, `scheduled`
 * or `sending`. A campaign sent now goes from `draft` straight to `sending`.
 * No other transition exists; the store enforces the same map with a conditional write.
 *
 * The one list of campaign statuses, and every list derived from it (the final ones),
 * live here. The module imports nothing, so the dashboard's bundle takes it as it is;
 * test/unit/api-copies.test.ts checks the copies that cannot import it (openapi.yaml).
 */

/** Every campaign status, in the order of its lifecycle. */
export const CAMPAIGN_STATUSES = [
  'draft',
  'scheduled',
  'sending',
  'sent',
  'partially_failed',
  'failed',
  'cancelled',
] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

/** For each status, the statuses a campaign may move to from it. */
export const CAMPAIGN_TRANSITIONS = {
  draft: ['scheduled', 'sending', 'cancelled'],
  scheduled: ['sending', 'cancelled'],
  sending: ['sent', 'partially_failed', 'failed', 'cancelled'],
  sent: [],
  partially_failed: [],
  failed: [],
  cancelled: [],
} as const satisfies Readonly<Record<CampaignStatus, readonly CampaignStatus[]>>;

/** A status no campaign leaves: one whose row of `CAMPAIGN_TRANSITIONS` is empty. */
export type FinalCampaignStatus = {
  [S in CampaignStatus]: (typeof CAMPAIGN_TRANSITIONS)[S] extends readonly [] ? S : never;
}[CampaignStatus];

/** The statuses no campaign leaves, in lifecycle order: `sent`, `partially_failed`, `failed`, `cancelled`. */
export const FINAL_CAMPAIGN_STATUSES: readonly FinalCampaignStatus[] = CAMPAIGN_STATUSES.filter(
  (status): status is FinalCampaignStatus => CAMPAIGN_TRANSITIONS[status].length === 0,
);

/** True when `status` is final: the campaign is over and nothing changes it any more. */
export function isFinalCampaignStatus(status: string): status is FinalCampaignStatus {
  return (FINAL_CAMPAIGN_STATUSES as readonly string[]).includes(status);
}

/** True when a campaign may move from `from` to `to`. */
export function canTransition(from: CampaignStatus, to: CampaignStatus): boolean {
  return (CAMPAIGN_TRANSITIONS[from] as readonly CampaignStatus[]).includes(to);
}

/** The statuses a campaign can be in just before becoming `to`. */
export function statusesBefore(to: CampaignStatus): CampaignStatus[] {
  return CAMPAIGN_STATUSES.filter((from) => canTransition(from, to));
}
