/**
 * The pacing bound, checked on what takers were granted: over any window of t seconds,
 * at most `burst + ratePerSecond·t` messages (shared/delivery/pacing.ts).
 */
import type { PaceLimit } from '#shared/domain/destinations.ts';

/** One grant: `n` messages sent at `at` (epoch ms). */
export interface Grant {
  at: number;
  n: number;
}

/**
 * The most messages granted over any window beyond `burst + ratePerSecond·t`: at most 0
 * when the bound holds. Windows that start and end at grants are the tightest, so only
 * those are checked.
 */
export function worstExcess(grants: readonly Grant[], { ratePerSecond, burst }: PaceLimit): number {
  const sorted = [...grants].sort((a, b) => a.at - b.at);
  let worst = Number.NEGATIVE_INFINITY;
  sorted.forEach((first, i) => {
    let sum = 0;
    for (const g of sorted.slice(i)) {
      sum += g.n;
      worst = Math.max(worst, sum - (burst + (ratePerSecond * (g.at - first.at)) / 1000));
    }
  });
  return worst;
}

/**
 * How far the bound may seem to be passed by rounding alone: an epoch in ms is exact to
 * 2^-12 ms, and the bucket's `tat` sums fractions of ms.
 */
export const ROUNDING_MESSAGES = 1e-3;
