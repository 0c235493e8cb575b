/**
 * The campaign state machine of docs/api.md: `draft` → `scheduled` → `sending` →
 * `sent` | `partially_failed` | `failed`, and `cancelled` from `draft`, `scheduled`
 * or `sending`. A campaign sent now goes from `draft` straight to `sending`.
 * No other transition exists; the store enforces the same map with a conditional write.
 */
import { ConflictError } from '#shared/errors.ts';
import { CAMPAIGN_STATUSES, type CampaignStatus } from './model.ts';

/** For each status, the statuses a campaign may move to from it. */
export const CAMPAIGN_TRANSITIONS: Readonly<Record<CampaignStatus, readonly CampaignStatus[]>> = {
  draft: ['scheduled', 'sending', 'cancelled'],
  scheduled: ['sending', 'cancelled'],
  sending: ['sent', 'partially_failed', 'failed', 'cancelled'],
  sent: [],
  partially_failed: [],
  failed: [],
  cancelled: [],
};

/** Statuses no campaign leaves. */
export const FINAL_CAMPAIGN_STATUSES: readonly CampaignStatus[] = CAMPAIGN_STATUSES.filter(
  (status) => CAMPAIGN_TRANSITIONS[status].length === 0,
);

/** True when `status` is one of the campaign statuses. */
export function isCampaignStatus(status: string): status is CampaignStatus {
  return (CAMPAIGN_STATUSES as readonly string[]).includes(status);
}

/** True when a campaign may move from `from` to `to`. */
export function canTransition(from: CampaignStatus, to: CampaignStatus): boolean {
  return CAMPAIGN_TRANSITIONS[from].includes(to);
}

/** Throws a `ConflictError` unless a campaign may move from `from` to `to`. */
export function assertTransition(from: CampaignStatus, to: CampaignStatus): void {
  if (canTransition(from, to)) return;
  const allowed = CAMPAIGN_TRANSITIONS[from];
  throw new ConflictError(
    `The campaign is ${from} and cannot become ${to}; ${
      allowed.length > 0 ? `from ${from} it can only become ${allowed.join(', ')}` : `${from} is final`
    }.`,
    { status: from, requested: to, allowed },
  );
}

/** The statuses a campaign can be in just before becoming `to`. */
export function statusesBefore(to: CampaignStatus): CampaignStatus[] {
  return CAMPAIGN_STATUSES.filter((from) => canTransition(from, to));
}
