/**
 * Pacing, end to end (docs/delivery.md, "Pacing"): an app's webhook with `ratePerSecond`
 * receives no more than the rate plus the burst in any second, however many consumers
 * run; a far side that answers `429` slows the bucket, which climbs back; and every
 * recipient is delivered exactly once. The receiver's arrival times are the measure: an
 * upper bound, so it holds on a slow machine too.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { mostInAnyWindow } from '#bench/deliver.ts';
import { burstOf } from '#shared/domain/destinations.ts';
import { createBucketStore } from '#shared/store/pacing.ts';
import {
  type ArrivalRecorder,
  type RecordedRequest,
  startArrivalRecorder,
} from '#test/support/arrival-recorder.ts';
import { addRecipients, numberedRecipients } from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { draftCampaign } from '#test/support/uploads.ts';

const CONSUMERS = 4;
const runtime = useRuntime({
  deliveryConcurrency: CONSUMERS,
  env: { DELIVERY_RETRY_BASE_SECONDS: '0', WEBHOOK_BASE_DELAY_MS: '10' },
});

type Api = ReturnType<typeof apiClient>;
const receivers: ArrivalRecorder[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});

/** An app with an approved template, its own webhook at `ratePerSecond`, and a draft campaign of `n`. */
async function pacedCampaign(prefix: string, ratePerSecond: number, n: number, throttleFirst = 0) {
  // In a process of its own: arrivals are noted when they arrive, whatever this process is doing.
  const hook = await startArrivalRecorder({ throttleFirst });
  receivers.push(hook);
  const credentials = await newApp(prefix);
  const api = apiClient(runtime.current.url, credentials);
  const put = await api.put('/api/destination', { kind: 'webhook', url: hook.url, ratePerSecond });
  expect(put.status).toBe(200);
  const id = await draftCampaign(api, { name: { type: 'string', required: true, maxLength: 100 } });
  await addRecipients(credentials.appId, id, numberedRecipients(n));
  return { api, hook, id, appId: credentials.appId };
}

/** Polls the campaign until it ends, calling `each` with every answer seen while it was sending. */
async function untilFinished(
  api: Api,
  id: string,
  each: (campaign: Record<string, unknown>) => void | Promise<void>,
) {
  let campaign: Record<string, unknown> = {};
  await expect
    .poll(
      async () => {
        campaign = (await api.get(`/api/campaigns/${id}`)).body.data;
        if (campaign.status === 'sending') await each(campaign);
        return campaign.status;
      },
      { timeout: 120_000, interval: 250 },
    )
    .not.toMatch(/^(sending|scheduled|draft)$/);
  return campaign;
}

/** The most messages that arrived in any window of `ms`. */
const mostInWindow = (requests: readonly RecordedRequest[], ms: number) =>
  mostInAnyWindow(
    requests.flatMap((r) => r.json.messages.map(() => r.at)).sort((a, b) => a - b),
    ms,
  );

/** User ids of the requests the receiver accepted, sorted: each recipient must appear once. */
const acceptedUserIds = (requests: readonly RecordedRequest[]) =>
  requests
    .filter((r) => r.status === 204)
    .flatMap((r) => r.json.messages.map((m) => m.userId))
    .sort();

const expectedUserIds = (n: number) =>
  numberedRecipients(n)
    .map((r) => r.userId)
    .sort();

describe('a paced destination', () => {
  it('never receives more than the rate plus the burst in any second, with several consumers, each recipient once, and an ETA on the way', async () => {
    const rate = 50;
    const burst = burstOf(rate);
    const n = 1_500;
    const { api, hook, id } = await pacedCampaign('paced', rate, n);
    const etas: string[] = [];
    expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
    const done = await untilFinished(api, id, (campaign) => {
      const progress = campaign.progress as { eta: string | null } | undefined;
      if (progress?.eta) etas.push(progress.eta);
    });

    expect(done.status).toBe('sent');
    expect(done.counts).toEqual({ pending: 0, queued: 0, sent: n, failed: 0, skipped: 0 });
    const requests = await hook.requests();
    expect(acceptedUserIds(requests)).toEqual(expectedUserIds(n));
    expect(requests.filter((r) => r.status !== 204)).toEqual([]);
    // The bound: over any second, at most the rate plus the burst (here 50 + 50).
    expect(mostInWindow(requests, 1_000)).toBeLessThanOrEqual(rate + burst);
    // So the whole send took at least (n − burst) / rate seconds, less a second of slack.
    const times = requests.map((r) => r.at);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(((n - burst) / rate - 1) * 1000);
    // Chunks are cut to the burst (here below the batch size): no request carries more than one second of the rate.
    expect(Math.max(...requests.map((r) => r.json.messages.length))).toBe(Math.min(100, burst));
    // While it was sending, the campaign said when it would end.
    expect(etas.length).toBeGreaterThan(0);
    expect(Number.isNaN(Date.parse(etas[0] as string))).toBe(false);
  });

  it('slows down when the far side answers 429, climbs back to the rate, and loses or repeats no one', async () => {
    const rate = 50;
    const n = 1_000;
    const throttledFirst = 6;
    const { api, hook, id, appId } = await pacedCampaign('throttled', rate, n, throttledFirst);
    const buckets = createBucketStore(runtime.current.table);
    // The bucket's effective rate, sampled while the campaign sends.
    const rates: number[] = [];
    const sample = async () => {
      const state = await buckets.read(`app:${appId}`);
      if (state) rates.push(state.rate);
    };
    expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
    const done = await untilFinished(api, id, sample);

    expect(done.status).toBe('sent');
    expect(done.counts).toEqual({ pending: 0, queued: 0, sent: n, failed: 0, skipped: 0 });
    const requests = await hook.requests();
    expect(acceptedUserIds(requests)).toEqual(expectedUserIds(n));
    expect(requests.filter((r) => r.status === 429)).toHaveLength(throttledFirst);
    // The 429s halved the rate (at least once), then success brought it back to the configured rate.
    expect(Math.min(...rates)).toBeLessThanOrEqual(rate / 2);
    const lowest = rates.indexOf(Math.min(...rates));
    expect(rates.slice(lowest)).toContain(rate);
    expect(Math.max(...rates)).toBe(rate);
  });
});
