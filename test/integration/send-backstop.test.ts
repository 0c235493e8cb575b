/**
 * Nothing left stuck when the API cannot start the send function: its asynchronous invoke
 * fails (Lambda answers 500 to every try) or is lost (the API function died between the
 * campaign's state change and the invoke). Either way the campaign's backstop schedule,
 * armed before the state change, starts the send function a little later, and the
 * campaign, cancel or one-call send ends as if nothing had happened.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NOTIFICATION_ID_PREFIX } from '#shared/domain/sending.ts';
import { outboxLines } from '#test/support/crash/state.ts';
import { addRecipients, allRecipients, numberedRecipients } from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { draftCampaign } from '#test/support/uploads.ts';

const outbox = join(mkdtempSync(join(tmpdir(), 'backstop-')), 'outbox.jsonl');

/** What happens to the API's invoke of the send function, per campaign (or one-call send). */
const invokes = new Map<string, 'fail' | 'lose'>();
/** Invoke calls the API made for each, and the send runs started through the scheduler. */
const seen = { lambda: new Map<string, number>(), scheduler: new Map<string, number>() };
const bump = (map: Map<string, number>, id: string) => map.set(id, (map.get(id) ?? 0) + 1);

const runtime = useRuntime({
  env: { OUTBOX_PATH: outbox, DELIVERY_RETRY_BASE_SECONDS: '0', SEND_RESUME_AFTER_SECONDS: '2' },
  interceptInvoke: (name, event, via) => {
    if (name !== 'sendCampaign' || via === 's3') return false;
    const { campaignId } = event as { campaignId: string };
    if (via === 'scheduler') {
      bump(seen.scheduler, campaignId);
      return false;
    }
    bump(seen.lambda, campaignId);
    const fault =
      invokes.get(campaignId) ??
      (campaignId.startsWith(NOTIFICATION_ID_PREFIX) ? invokes.get(NOTIFICATION_ID_PREFIX) : undefined);
    if (fault === 'fail') throw new Error('Lambda is unavailable (a test fault)');
    return fault === 'lose';
  },
});

type Api = ReturnType<typeof apiClient>;

/** A draft campaign of `recipients` (a template of one `name` variable), in an app of its own. */
async function campaignOf(recipients: number) {
  const credentials = await newApp('backstop');
  const api = apiClient(runtime.current.url, credentials);
  const id = await draftCampaign(api, { name: { type: 'string' } });
  await addRecipients(credentials.appId, id, numberedRecipients(recipients));
  const templateId: string = (await api.get(`/api/campaigns/${id}`)).body.data.templateId;
  return { api, id, appId: credentials.appId, templateId };
}

async function final(api: Api, id: string) {
  await expect
    .poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data.status, { timeout: 60_000 })
    .toMatch(/^(sent|partially_failed|failed|cancelled)$/);
  return (await api.get(`/api/campaigns/${id}`)).body.data;
}

describe('the backstop of a send', () => {
  it.each([
    ['fails (Lambda answers 500)', 'fail'],
    ['is lost (the API function died after the state change)', 'lose'],
  ] as const)('sends everyone once when the send function invoke %s', async (_, fault) => {
    const { api, id } = await campaignOf(30);
    invokes.set(id, fault);
    const res = await api.post(`/api/campaigns/${id}/send`);
    expect(res.status).toBe(202);
    expect(res.body.data.status).toBe('sending');
    // The API's invoke was tried (the SDK retries a 500), and nothing started the run.
    expect(seen.lambda.get(id)).toBeGreaterThanOrEqual(1);
    expect(seen.scheduler.get(id)).toBeUndefined();

    const campaign = await final(api, id);
    expect(campaign.status).toBe('sent');
    expect(campaign.counts).toEqual({ pending: 0, queued: 0, sent: 30, failed: 0, skipped: 0 });
    expect(seen.scheduler.get(id)).toBe(1);
    const lines = await outboxLines(outbox, id);
    expect(lines.size).toBe(30);
    expect([...lines.values()].filter((n) => n > 1)).toEqual([]);
  });

  it('skips every recipient of a cancelled draft whose sweep was never started', async () => {
    const { api, id, appId } = await campaignOf(12);
    invokes.set(id, 'fail');
    const res = await api.post(`/api/campaigns/${id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body.data.status).toBe('cancelled');
    expect(seen.scheduler.get(id)).toBeUndefined();

    await expect
      .poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data.counts, { timeout: 60_000 })
      .toEqual({ pending: 0, queued: 0, sent: 0, failed: 0, skipped: 12 });
    expect(seen.scheduler.get(id)).toBe(1);
    const stored = await allRecipients(appId, id);
    expect(stored.filter((r) => r.status !== 'skipped').map((r) => r.userId)).toEqual([]);
    expect(stored).toHaveLength(12);
  });

  it('delivers a one-call send whose invoke failed', async () => {
    const { api, templateId } = await campaignOf(0);
    // Its id is not known before the answer: every one-call send's invoke fails from here on.
    invokes.set(NOTIFICATION_ID_PREFIX, 'fail');
    const res = await api.post('/api/notifications/send', {
      template: { id: templateId, variables: { name: 'Ada' } },
      targets: ['n1', 'n2', 'n3'],
    });
    expect(res.status).toBe(202);
    const { notificationId } = res.body.data;
    expect(seen.lambda.get(notificationId)).toBeGreaterThanOrEqual(1);
    expect(seen.scheduler.get(notificationId)).toBeUndefined();

    await expect
      .poll(async () => (await outboxLines(outbox, notificationId)).size, { timeout: 60_000 })
      .toBe(3);
    expect(seen.scheduler.get(notificationId)).toBe(1);
  });
});
