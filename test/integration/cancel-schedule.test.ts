import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readOutbox } from '#shared/adapters/outbox-channel.ts';
import { campaignScheduleName } from '#shared/domain/sending.ts';
import { queueDepth } from '#test/support/crash/queue.ts';
import { addRecipients, allRecipients, numberedRecipients } from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';

const outbox = join(mkdtempSync(join(tmpdir(), 'cancel-')), 'outbox.jsonl');
const runtime = useRuntime({ env: { OUTBOX_PATH: outbox, DELIVERY_RETRY_BASE_SECONDS: '0' } });

type Api = ReturnType<typeof apiClient>;

async function draftCampaign(recipients: number) {
  const credentials = await newApp('cancel');
  const api = apiClient(runtime.current.url, credentials);
  const template = await api.post('/api/templates', {
    name: 'Reminder',
    body: 'Hi {{name}}',
    variableSchema: { name: { type: 'string' } },
  });
  await api.put(`/api/templates/${template.body.data.id}`, { status: 'approved' });
  const campaign = await api.post('/api/campaigns', { name: 'Reminder', templateId: template.body.data.id });
  const id: string = campaign.body.data.id;
  if (recipients > 0) await addRecipients(credentials.appId, id, numberedRecipients(recipients));
  return { api, id, appId: credentials.appId };
}

const delivered = async (id: string) => (await readOutbox(outbox)).filter((e) => e.campaignId === id);

const FINAL = ['sent', 'partially_failed', 'failed', 'cancelled'];

/** The campaign once every recipient is settled and its status is final (both are waited on). */
async function settled(api: Api, id: string, total: number) {
  await expect
    .poll(
      async () => {
        const { counts, status } = (await api.get(`/api/campaigns/${id}`)).body.data;
        return { settled: counts.sent + counts.failed + counts.skipped, final: FINAL.includes(status) };
      },
      { timeout: 60_000, interval: 250 },
    )
    .toEqual({ settled: total, final: true });
  return (await api.get(`/api/campaigns/${id}`)).body.data;
}

/** An ISO time `ms` from now. */
const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();

describe('scheduled sends', () => {
  it('sends at the scheduled time, not before', async () => {
    const { api, id } = await draftCampaign(20);
    const scheduledAt = inMs(3000);
    const res = await api.post(`/api/campaigns/${id}/send`, { scheduledAt });
    expect(res.status).toBe(202);
    expect(res.body.data).toEqual({ id, status: 'scheduled', scheduledAt, updatedAt: expect.any(String) });
    expect((await api.get(`/api/campaigns/${id}`)).body.data.status).toBe('scheduled');
    expect(await delivered(id)).toHaveLength(0);

    const campaign = await settled(api, id, 20);
    expect(campaign.status).toBe('sent');
    const entries = await delivered(id);
    expect(entries).toHaveLength(20);
    for (const entry of entries)
      expect(Date.parse(entry.deliveredAt)).toBeGreaterThanOrEqual(Date.parse(scheduledAt));
  });

  it('schedules once when the same campaign is scheduled twice at the same moment', async () => {
    const { api, id } = await draftCampaign(4);
    const scheduledAt = inMs(2500);
    const answers = await Promise.all([
      api.post(`/api/campaigns/${id}/send`, { scheduledAt }),
      api.post(`/api/campaigns/${id}/send`, { scheduledAt }),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409]);
    const campaign = await settled(api, id, 4);
    expect(campaign.counts.sent).toBe(4);
    expect(await delivered(id)).toHaveLength(4);
  });

  it('never fires a cancelled schedule, and skips every recipient', async () => {
    const { api, id } = await draftCampaign(10);
    expect((await api.post(`/api/campaigns/${id}/send`, { scheduledAt: inMs(2000) })).status).toBe(202);
    const cancelled = await api.post(`/api/campaigns/${id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.data.status).toBe('cancelled');

    const campaign = await settled(api, id, 10);
    expect(campaign.counts).toEqual({ pending: 0, queued: 0, sent: 0, failed: 0, skipped: 10 });
    // Its schedule is gone, so it can never fire (a fired one deletes itself only once it has).
    expect(runtime.current.scheduleNames().filter((name) => name.endsWith(campaignScheduleName(id)))).toEqual(
      [],
    );
    expect(campaign.status).toBe('cancelled');
    expect(await delivered(id)).toHaveLength(0);
    const skipped = await api.get(`/api/campaigns/${id}/recipients?status=skipped&limit=100`);
    expect(skipped.body.data).toHaveLength(10);
  });
});

describe('POST /api/campaigns/{id}/cancel', () => {
  it('stops a campaign mid-send: every recipient ends sent or skipped, none delivered twice', async () => {
    const total = 5000;
    const { api, id, appId } = await draftCampaign(total);
    expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
    // Mid-send: once someone has been delivered, the consumers pause (each finishes the batch
    // it holds), so on a slow machine too the cancel comes before everyone is delivered.
    await expect
      .poll(async () => (await delivered(id)).length, { timeout: 60_000, interval: 20 })
      .toBeGreaterThan(0);
    await runtime.current.stopDeliveries();
    const res = await api.post(`/api/campaigns/${id}/cancel`);
    runtime.current.startDeliveries();
    expect(res.status).toBe(200);
    expect(res.body.data.status).toBe('cancelled');

    const campaign = await settled(api, id, total);
    expect(campaign.status).toBe('cancelled');
    // Every message taken off the queue and handled, then what users got against the counters.
    await runtime.current.idle();
    await expect.poll(queueDepth, { timeout: 60_000 }).toBe(0);
    const entries = await delivered(id);
    const users = new Set(entries.map((e) => e.userId));
    expect(users.size).toBe(entries.length);
    expect(users.size).toBeLessThan(total);
    expect((await api.get(`/api/campaigns/${id}`)).body.data.counts).toEqual({
      pending: 0,
      queued: 0,
      sent: users.size,
      failed: 0,
      skipped: total - users.size,
    });
    const stored = await allRecipients(appId, id);
    expect(stored).toHaveLength(total);
    const wrong = stored.filter((r) => r.status !== (users.has(r.userId) ? 'sent' : 'skipped'));
    expect(wrong.map((r) => `${r.userId}:${r.status}`)).toEqual([]);
  });

  it('skips every recipient of a draft', async () => {
    const { api, id } = await draftCampaign(5);
    expect((await api.post(`/api/campaigns/${id}/cancel`)).status).toBe(200);
    const campaign = await settled(api, id, 5);
    expect(campaign.counts.skipped).toBe(5);
  });

  it('answers 409 once the campaign is sent', async () => {
    const { api, id } = await draftCampaign(2);
    await api.post(`/api/campaigns/${id}/send`);
    await settled(api, id, 2);
    await expect.poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data.status).toBe('sent');
    const res = await api.post(`/api/campaigns/${id}/cancel`);
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/is sent/);
  });
});
