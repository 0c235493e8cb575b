import { describe, expect, it } from 'vitest';
import { campaignOutcome, finalStatus } from '#shared/domain/campaign-outcome.ts';
import type { CampaignStatus, RecipientCounts } from '#shared/domain/model.ts';

function counts(
  pending: number,
  queued: number,
  sent: number,
  failed: number,
  skipped: number,
): RecipientCounts {
  return { pending, queued, sent, failed, skipped };
}

describe('campaignOutcome of a sending campaign', () => {
  // recipientCount, pending, queued, sent, failed, skipped → finished, status
  it.each([
    // all sent
    [3, 0, 0, 3, 0, 0, true, 'sent'],
    [1, 0, 0, 1, 0, 0, true, 'sent'],
    [100_000, 0, 0, 100_000, 0, 0, true, 'sent'],
    // none sent
    [3, 0, 0, 0, 3, 0, true, 'failed'],
    [3, 0, 0, 0, 2, 1, true, 'failed'],
    [3, 0, 0, 0, 0, 3, true, 'failed'],
    // some sent, some not
    [3, 0, 0, 2, 1, 0, true, 'partially_failed'],
    [3, 0, 0, 1, 2, 0, true, 'partially_failed'],
    [3, 0, 0, 2, 0, 1, true, 'partially_failed'],
    [4, 0, 0, 2, 1, 1, true, 'partially_failed'],
    // still in flight
    [3, 0, 1, 2, 0, 0, false, 'sending'],
    [3, 3, 0, 0, 0, 0, false, 'sending'],
    [3, 0, 3, 0, 0, 0, false, 'sending'],
    [3, 1, 1, 0, 1, 0, false, 'sending'],
    [100_000, 0, 100, 99_000, 900, 0, false, 'sending'],
    // settled total decides, even if in-flight counters lag behind
    [3, 0, 1, 3, 0, 0, true, 'sent'],
    // more settled than recipients (a counter replayed): finished, not stuck
    [3, 0, 0, 3, 1, 0, true, 'partially_failed'],
    // no recipients
    [0, 0, 0, 0, 0, 0, true, 'sent'],
  ] as const)(
    'recipients %i, pending %i, queued %i, sent %i, failed %i, skipped %i → finished %s, %s',
    (recipientCount, pending, queued, sent, failed, skipped, finished, status) => {
      expect(
        campaignOutcome({
          status: 'sending',
          recipientCount,
          counts: counts(pending, queued, sent, failed, skipped),
        }),
      ).toEqual({ finished, status });
    },
  );
});

describe('campaignOutcome of a campaign that is not sending', () => {
  it.each([
    ['draft', false],
    ['scheduled', false],
    ['sent', true],
    ['partially_failed', true],
    ['failed', true],
    ['cancelled', true],
  ] as const)('leaves a %s campaign %s, finished %s', (status: CampaignStatus, finished) => {
    expect(campaignOutcome({ status, recipientCount: 3, counts: counts(0, 0, 3, 0, 0) })).toEqual({
      finished,
      status,
    });
  });

  it('keeps a cancelled campaign cancelled even when every recipient was sent or failed', () => {
    expect(
      campaignOutcome({ status: 'cancelled', recipientCount: 3, counts: counts(0, 0, 1, 2, 0) }),
    ).toEqual({
      finished: true,
      status: 'cancelled',
    });
  });
});

describe('finalStatus', () => {
  it('is undefined until every recipient is settled', () => {
    expect(finalStatus(counts(0, 1, 1, 0, 0), 2)).toBeUndefined();
    expect(finalStatus(counts(0, 0, 2, 0, 0), 2)).toBe('sent');
  });

  it('ignores negative counters rather than finishing early', () => {
    expect(finalStatus(counts(0, 0, 3, -1, 0), 3)).toBe('sent');
    expect(finalStatus(counts(0, 0, 2, 0, -1), 3)).toBeUndefined();
  });
});
