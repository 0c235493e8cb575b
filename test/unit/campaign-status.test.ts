import { describe, expect, it } from 'vitest';
import {
  assertTransition,
  CAMPAIGN_TRANSITIONS,
  canTransition,
  FINAL_CAMPAIGN_STATUSES,
  statusesBefore,
} from '#shared/domain/campaign-status.ts';
import { CAMPAIGN_STATUSES, type CampaignStatus } from '#shared/domain/model.ts';
import { ConflictError } from '#shared/errors.ts';

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
    expect(() => assertTransition(from, to)).not.toThrow();
  });

  it('allows no other transition, including staying in the same status', () => {
    const pairs = CAMPAIGN_STATUSES.flatMap((from) => CAMPAIGN_STATUSES.map((to) => [from, to] as const));
    const forbidden = pairs.filter(([from, to]) => !allowed.some(([f, t]) => f === from && t === to));
    expect(forbidden).toHaveLength(CAMPAIGN_STATUSES.length ** 2 - allowed.length);
    for (const [from, to] of forbidden) {
      expect(canTransition(from, to)).toBe(false);
      expect(() => assertTransition(from, to)).toThrow(ConflictError);
    }
  });

  it('refuses to cancel a sent campaign with a conflict that says the status is final', () => {
    try {
      assertTransition('sent', 'cancelled');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConflictError);
      expect(error).toMatchObject({ code: 'ERR_CONFLICT' });
      expect((error as Error).message).toContain('sent is final');
    }
  });

  it('names the allowed next statuses when refusing a transition', () => {
    expect(() => assertTransition('scheduled', 'sent')).toThrow(/can only become sending, cancelled/);
  });

  it('knows the final statuses and which statuses lead to cancelled', () => {
    expect([...FINAL_CAMPAIGN_STATUSES].sort()).toEqual(['cancelled', 'failed', 'partially_failed', 'sent']);
    expect(statusesBefore('cancelled')).toEqual(['draft', 'scheduled', 'sending']);
  });

  it('has an entry for every status', () => {
    expect(Object.keys(CAMPAIGN_TRANSITIONS).sort()).toEqual([...CAMPAIGN_STATUSES].sort());
  });
});
