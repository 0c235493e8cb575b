import { describe, expect, it } from 'vitest';
import {
  CAMPAIGN_STATUSES,
  CAMPAIGN_TRANSITIONS,
  type CampaignStatus,
  canTransition,
  FINAL_CAMPAIGN_STATUSES,
  isFinalCampaignStatus,
  statusesBefore,
} from '#shared/domain/campaign-status.ts';
import * as model from '#shared/domain/model.ts';

const allowed: [CampaignStatus, CampaignStatus][] = [
  ['draft', 'scheduled'],
  ['draft', 'sending'],
  ['draft', 'cancelled'],
  ['scheduled', 'sending'],
  ['scheduled', 'cancelled'],
  ['sending', 'sent'],
  ['sending', 'partially_failed'],
  ['sending', 'failed'],
  ['sending', 'cancelled'],
];

describe('campaign state machine', () => {
  it.each(allowed)('allows %s -> %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
  });

  it('allows no other transition, including staying in the same status', () => {
    const pairs = CAMPAIGN_STATUSES.flatMap((from) => CAMPAIGN_STATUSES.map((to) => [from, to] as const));
    const forbidden = pairs.filter(([from, to]) => !allowed.some(([f, t]) => f === from && t === to));
    expect(forbidden).toHaveLength(CAMPAIGN_STATUSES.length ** 2 - allowed.length);
    for (const [from, to] of forbidden) {
      expect(canTransition(from, to)).toBe(false);
    }
  });

  it('knows the final statuses and which statuses lead to cancelled', () => {
    expect([...FINAL_CAMPAIGN_STATUSES].sort()).toEqual(['cancelled', 'failed', 'partially_failed', 'sent']);
    expect(statusesBefore('cancelled')).toEqual(['draft', 'scheduled', 'sending']);
  });

  it('takes the final statuses from the table: those with no way out', () => {
    for (const status of CAMPAIGN_STATUSES) {
      expect(isFinalCampaignStatus(status), status).toBe(
        CAMPAIGN_STATUSES.every((to) => !canTransition(status, to)),
      );
    }
    expect(isFinalCampaignStatus('done')).toBe(false);
  });

  it('is the one list of campaign statuses, which the model hands on', () => {
    expect(model.CAMPAIGN_STATUSES).toBe(CAMPAIGN_STATUSES);
  });

  it('has an entry for every status', () => {
    expect(Object.keys(CAMPAIGN_TRANSITIONS).sort()).toEqual([...CAMPAIGN_STATUSES].sort());
  });
});
