/**
 * A sending campaign's progress (docs/api.md, "Progress"), pure: the delivery rate
 * measured over the last minute and the expected end, from the recipients settled per
 * 5-second slot. The store counts each settled chunk into the slot of the moment it is
 * counted (`shared/store/campaigns.ts`, `countsUpdate`), in the same write as its counters.
 */

/** Length of one rate slot: slot `k` holds the recipients settled in [k × 5 s, (k + 1) × 5 s). */
export const RATE_SLOT_MS = 5_000;
/** The rate is measured over this much time before now. */
export const RATE_WINDOW_MS = 60_000;
/** Slots the rate reads: the current one and the 12 before it (slot starts within the window). */
export const RATE_WINDOW_SLOTS = RATE_WINDOW_MS / RATE_SLOT_MS + 1;
/** Under this much measured time, a rate would be noise: none is given. */
export const MIN_MEASURED_MS = 1_000;

/** The slot of epoch time `ms`. */
export const rateSlotOf = (ms: number) => Math.floor(ms / RATE_SLOT_MS);

export interface ProgressInput {
  /** When the campaign started sending (ISO); undefined for a campaign that started before it was recorded. */
  startedAt: string | undefined;
  /** Recipients settled (sent, failed or skipped) per slot index, summed over the counter shards. */
  slots: ReadonlyMap<number, number>;
  /** Recipients settled so far. */
  settled: number;
  /** The campaign's recipients. */
  total: number;
  /** Epoch ms. */
  now: number;
  /** The pace limit of the app's destination (messages per second), null when none. */
  limitPerSecond: number | null;
}

export interface CampaignProgress {
  /** Recipients settled per second over the last minute, to 1 decimal; null until measured. */
  ratePerSecond: number | null;
  /** The expected end (ISO); null while the rate is unknown or 0. */
  eta: string | null;
  /** When the campaign started sending (ISO); null for a campaign that started before it was recorded. */
  startedAt: string | null;
}

/**
 * The progress of a sending campaign at `now`.
 *
 * The rate counts the slots whose start is at or after `now − 60 s`, the current one
 * included (and any slot ahead of `now`: another host's clock), and divides by the time
 * they cover: from the first such slot's start, or from `startedAt` when the campaign
 * started later (a campaign started 10 s ago with 500 settled measures 50/s), to `now`.
 * Null when no recipient was settled in those slots, or when they cover under 1 s.
 *
 * The ETA is `now + remaining / min(rate, limitPerSecond)` (the rate alone without a
 * limit), from the unrounded rate; `now` itself when no recipient remains; null when the
 * rate is null or 0.
 */
export function progressOf(input: ProgressInput): CampaignProgress {
  const { now } = input;
  const startedMs = input.startedAt === undefined ? Number.NaN : Date.parse(input.startedAt);
  const firstSlot = Math.ceil((now - RATE_WINDOW_MS) / RATE_SLOT_MS);
  let measured = 0;
  for (const [slot, count] of input.slots) if (slot >= firstSlot && count > 0) measured += count;
  const from = Number.isNaN(startedMs)
    ? firstSlot * RATE_SLOT_MS
    : Math.max(startedMs, firstSlot * RATE_SLOT_MS);
  const coveredMs = now - from;
  const rate = measured > 0 && coveredMs >= MIN_MEASURED_MS ? measured / (coveredMs / 1000) : null;
  const remaining = Math.max(0, input.total - input.settled);
  const pace = rate === null || input.limitPerSecond === null ? rate : Math.min(rate, input.limitPerSecond);
  const eta =
    remaining === 0
      ? new Date(now).toISOString()
      : pace === null || pace <= 0
        ? null
        : new Date(now + Math.round((remaining / pace) * 1000)).toISOString();
  return {
    ratePerSecond: rate === null ? null : Math.round(rate * 10) / 10,
    eta,
    startedAt: Number.isNaN(startedMs) ? null : new Date(startedMs).toISOString(),
  };
}
