import { describe, expect, it } from 'vitest';
import {
  type ProgressInput,
  progressOf,
  RATE_SLOT_MS,
  rateSlotOf,
} from '#shared/domain/campaign-progress.ts';
import { campaignView, newCampaign } from '#shared/domain/campaigns.ts';
import { CAMPAIGN_STATUSES } from '#shared/domain/model.ts';

/** A slot boundary: slot `SLOT` starts at `T`. */
const T = 1_800_000_000_000;
const SLOT = rateSlotOf(T);
const iso = (ms: number) => new Date(ms).toISOString();

function input(overrides: Partial<ProgressInput>): ProgressInput {
  return {
    startedAt: iso(T - 10 * 60_000),
    slots: new Map(),
    settled: 0,
    total: 10_000,
    now: T,
    limitPerSecond: null,
    ...overrides,
  };
}

describe('progressOf', () => {
  it('measures a campaign started 10 s ago from its start: 500 settled is 50/s, not 500/60', () => {
    const now = T + 2_000;
    const progress = progressOf(
      input({
        startedAt: iso(now - 10_000),
        slots: new Map([
          [SLOT - 2, 100],
          [SLOT - 1, 250],
          [SLOT, 150],
        ]),
        settled: 500,
        total: 1_500,
        now,
      }),
    );
    expect(progress).toEqual({
      ratePerSecond: 50,
      // 1,000 left at 50/s: 20 s from now.
      eta: iso(now + 20_000),
      startedAt: iso(now - 10_000),
    });
  });

  it('counts the slots that start within the last minute, and divides by the time they cover', () => {
    // On a boundary: the current slot and the 12 before it, 60 s.
    const slots = new Map<number, number>();
    for (let k = 0; k <= 11; k++) slots.set(SLOT - k, 60);
    slots.set(SLOT - 12, 600); // starts 60 s ago: in
    slots.set(SLOT - 13, 100_000); // starts 65 s ago: out
    expect(progressOf(input({ slots, settled: 1_000 })).ratePerSecond).toBe(22);

    // 2.5 s into the slot: the slot starting 62.5 s ago falls out, the 12 left cover 57.5 s.
    const later = progressOf(input({ slots, settled: 1_000, now: T + 2_500 }));
    expect(later.ratePerSecond).toBe(12.5);
  });

  it('caps the ETA at the pace limit, but answers the measured rate', () => {
    const progress = progressOf(
      input({ slots: new Map([[SLOT - 1, 3_000]]), settled: 3_000, total: 3_600, limitPerSecond: 10 }),
    );
    // 3,000 in the minute is 50/s; the destination takes 10/s: 600 left are 60 s.
    expect(progress.ratePerSecond).toBe(50);
    expect(progress.eta).toBe(iso(T + 60_000));
    // A limit above the measured rate changes nothing.
    const fast = progressOf(
      input({ slots: new Map([[SLOT - 1, 3_000]]), settled: 3_000, total: 3_600, limitPerSecond: 1_000 }),
    );
    expect(fast.eta).toBe(iso(T + 12_000));
  });

  it('rounds the rate to 1 decimal and computes the ETA from the unrounded one', () => {
    // 100 in 60 s: 1.666…/s.
    const progress = progressOf(input({ slots: new Map([[SLOT - 3, 100]]), settled: 100, total: 200 }));
    expect(progress.ratePerSecond).toBe(1.7);
    expect(progress.eta).toBe(iso(T + 60_000));
  });

  it('gives no rate and no ETA before anything is settled, nor when nothing was in the last minute', () => {
    expect(progressOf(input({}))).toEqual({ ratePerSecond: null, eta: null, startedAt: iso(T - 600_000) });
    const stale = progressOf(input({ slots: new Map([[SLOT - 20, 500]]), settled: 500 }));
    expect(stale).toMatchObject({ ratePerSecond: null, eta: null });
  });

  it('gives no rate while under a second is measured', () => {
    const progress = progressOf(
      input({ startedAt: iso(T - 400), slots: new Map([[SLOT - 1, 50]]), settled: 50 }),
    );
    expect(progress).toMatchObject({ ratePerSecond: null, eta: null, startedAt: iso(T - 400) });
  });

  it('answers now as the ETA once no recipient remains', () => {
    const progress = progressOf(input({ slots: new Map([[SLOT, 20]]), settled: 20, total: 20 }));
    expect(progress.eta).toBe(iso(T));
    // Even before a rate is measured.
    expect(progressOf(input({ settled: 20, total: 20 })).eta).toBe(iso(T));
  });

  it('measures over the whole window for a campaign without startedAt', () => {
    const progress = progressOf(
      input({ startedAt: undefined, slots: new Map([[SLOT - 1, 600]]), settled: 600 }),
    );
    expect(progress).toEqual({ ratePerSecond: 10, eta: iso(T + 940_000), startedAt: null });
  });

  it('names slots of 5 seconds', () => {
    expect(rateSlotOf(T + RATE_SLOT_MS - 1)).toBe(SLOT);
    expect(rateSlotOf(T + RATE_SLOT_MS)).toBe(SLOT + 1);
  });
});

describe('campaignView', () => {
  const campaign = {
    ...newCampaign({ name: 'n', templateId: 't' }, { id: 'c', appId: 'a', now: iso(T - 60_000) }),
    recipientCount: 1_000,
    counts: { pending: 0, queued: 400, sent: 550, failed: 40, skipped: 10 },
    startedAt: iso(T - 30_000),
    settledBySlot: new Map([[SLOT - 1, 600]]),
  };
  const at = { now: T, limitPerSecond: null };

  it('shows progress while sending, settled counted from sent, failed and skipped', () => {
    expect(campaignView({ ...campaign, status: 'sending' }, at).progress).toEqual({
      ratePerSecond: 20,
      eta: iso(T + 20_000),
      startedAt: iso(T - 30_000),
    });
  });

  it('shows no progress in any other status, nor without a time to measure at (a listing)', () => {
    for (const status of CAMPAIGN_STATUSES.filter((s) => s !== 'sending')) {
      expect(campaignView({ ...campaign, status }, at), status).not.toHaveProperty('progress');
    }
    expect(campaignView({ ...campaign, status: 'sending' })).not.toHaveProperty('progress');
    // Nor the bookkeeping behind it.
    const view = campaignView({ ...campaign, status: 'sending' }, at);
    expect(view).not.toHaveProperty('settledBySlot');
    expect(view).not.toHaveProperty('startedAt');
  });
});
