import { describe, expect, it } from 'vitest';
import {
  type CampaignSnapshot,
  MAX_SAMPLES,
  nextSamples,
  type Sample,
} from '../../dashboard/src/delivery-samples.ts';

const T0 = Date.parse('2026-03-20T14:00:00.000Z');
/** `seconds` after the send started, as epoch ms and as ISO. */
const at = (seconds: number) => T0 + seconds * 1000;
const iso = (seconds: number) => new Date(at(seconds)).toISOString();
const started = { progress: { startedAt: iso(0) } };

function sending(sent: number, extra: Partial<CampaignSnapshot> = {}): CampaignSnapshot {
  return { status: 'sending', counts: { sent, failed: 0, skipped: 0 }, ...extra };
}

/** Samples as `[seconds after the start, processed]`. */
const points = (samples: readonly Sample[]) => samples.map((s) => [(s.at - T0) / 1000, s.processed]);

/** The samples after each look, in order: `[seconds, campaign]`. */
const polls = (...looks: [number, CampaignSnapshot][]) =>
  looks.reduce<readonly Sample[]>((samples, [s, campaign]) => nextSamples(samples, campaign, at(s)), []);

describe('the delivery chart samples', () => {
  it('samples nothing of a campaign it never saw sending', () => {
    expect(polls([0, { ...sending(0), status: 'draft' }])).toEqual([]);
    expect(polls([90, { ...sending(100), status: 'sent', completedAt: iso(90) }])).toEqual([]);
  });

  it('starts the line at (startedAt, 0) when the page opened late', () => {
    expect(points(polls([120, sending(500, started)]))).toEqual([
      [0, 0],
      [120, 500],
    ]);
  });

  it('adds the start once it is known, moving up what was seen before it', () => {
    const samples = polls([-2, sending(0)], [-1, sending(3)], [5, sending(40, started)]);
    expect(points(samples)).toEqual([
      [0, 0],
      [0, 3],
      [5, 40],
    ]);
  });

  it('counts sent, failed and skipped as processed, and keeps the failed apart', () => {
    const [sample] = polls([3, { ...sending(10), counts: { sent: 10, failed: 4, skipped: 2 } }]);
    expect(sample).toMatchObject({ processed: 16, failed: 4 });
  });

  it('draws a plateau as its first and its latest point, so the line reaches the present', () => {
    const samples = polls(
      [1, sending(10, started)],
      [2, sending(10, started)],
      [3, sending(10, started)],
      [4, sending(10, started)],
      [5, sending(20, started)],
    );
    expect(points(samples)).toEqual([
      [0, 0],
      [1, 10],
      [4, 10],
      [5, 20],
    ]);
  });

  it('keeps the times in order when the page clock is behind the last point', () => {
    expect(points(polls([3, sending(10, started)], [2, sending(12, started)]))).toEqual([
      [0, 0],
      [3, 10],
      [3, 12],
    ]);
  });

  it('keeps the samples seen after the end, the last one at completedAt', () => {
    const samples = polls(
      [10, sending(30, started)],
      [22, { status: 'sent', completedAt: iso(21), counts: { sent: 50, failed: 0, skipped: 0 } }],
    );
    expect(points(samples)).toEqual([
      [0, 0],
      [10, 30],
      [21, 50],
    ]);
  });

  it(`holds at most ${MAX_SAMPLES} points, thinning the older ones and keeping the start and the latest`, () => {
    let samples: readonly Sample[] = [];
    for (let i = 1; i <= 10_000; i += 1) {
      samples = nextSamples(samples, sending(i, started), at(i));
      expect(samples.length).toBeLessThanOrEqual(MAX_SAMPLES);
    }
    expect(samples[0]).toMatchObject({ at: T0, processed: 0 });
    expect(points(samples.slice(-3))).toEqual([
      [9998, 9998],
      [9999, 9999],
      [10_000, 10_000],
    ]);
    const times = samples.map((s) => s.at);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });
});
