/**
 * The points of the campaign view's delivery chart, one per poll that saw the counts move.
 * No DOM here: the unit tests run it in Node.
 */

/** What a sample is taken from: the fields of a campaign the chart reads. */
export interface CampaignSnapshot {
  status: string;
  completedAt?: string;
  counts: { sent: number; failed: number; skipped: number };
  progress?: { startedAt: string };
}

/** Recipients settled by `at` (epoch ms): sent, failed or skipped; and the failed among them. */
export interface Sample {
  at: number;
  processed: number;
  failed: number;
}

/** Past this, the older half of the samples is thinned to every other point. */
export const MAX_SAMPLES = 2000;

/**
 * The samples after one more look at the campaign, answered at `now` (epoch ms: the
 * campaign's `updatedAt` does not move with its counters, which live apart). Nothing is
 * sampled before the campaign is seen sending; the first point is `(startedAt, 0)` once
 * the API says when the send started, so the line starts there even when the page opened
 * late; a plateau is two points, its first and its latest, so the line reaches the present
 * while nothing moves; after the end the samples seen stay, the last one at `completedAt`.
 */
export function nextSamples(
  samples: readonly Sample[],
  campaign: CampaignSnapshot,
  now: number,
): readonly Sample[] {
  if (campaign.status !== 'sending' && samples.length === 0) return samples;
  let next = [...samples];
  const started = campaign.progress ? Date.parse(campaign.progress.startedAt) : Number.NaN;
  if (!Number.isNaN(started) && !(next[0]?.at === started && next[0].processed === 0)) {
    // What was seen before the start (on a clock a little behind the server's) moves up to it.
    const seen = next.filter((s) => s.processed > 0).map((s) => ({ ...s, at: Math.max(s.at, started) }));
    next = [{ at: started, processed: 0, failed: 0 }, ...seen];
  }
  const { sent, failed, skipped } = campaign.counts;
  const point = { processed: sent + failed + skipped, failed };
  const completed = campaign.completedAt ? Date.parse(campaign.completedAt) : Number.NaN;
  next = append(next, { at: Number.isNaN(completed) ? now : completed, ...point });
  return next.length > MAX_SAMPLES ? thin(next) : next;
}

function append(samples: Sample[], sample: Sample): Sample[] {
  const last = samples.at(-1);
  if (!last) return [sample];
  // Clocks differ (the page's, the server's): the times only go forward.
  const at = Math.max(sample.at, last.at);
  const same = (s: Sample | undefined) => s?.processed === sample.processed && s.failed === sample.failed;
  if (same(last) && same(samples.at(-2))) return [...samples.slice(0, -1), { ...sample, at }];
  if (same(last) && at === last.at) return samples;
  return [...samples, { ...sample, at }];
}

/** Every other point of the older half (the first one, the start, kept); the recent half whole. */
function thin(samples: readonly Sample[]): Sample[] {
  const half = Math.floor(samples.length / 2);
  return [...samples.slice(0, half).filter((_, i) => i % 2 === 0), ...samples.slice(half)];
}
