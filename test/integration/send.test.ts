import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readOutbox } from '#shared/adapters/outbox-channel.ts';
import { newId } from '#shared/domain/keys.ts';
import { createCampaignsStore } from '#shared/store/campaigns.ts';
import { createTemplatesStore } from '#shared/store/templates.ts';
import { createUploadsStore, newUpload } from '#shared/store/uploads.ts';
import { dispatchGate } from '#test/support/dispatch-gate.ts';
import { sendCampaignFunction } from '#test/support/functions.ts';
import { addRecipients, numberedRecipients } from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { draftCampaign as draftWith, postUpload, uploadForm } from '#test/support/uploads.ts';

const outbox = join(mkdtempSync(join(tmpdir(), 'send-')), 'outbox.jsonl');
/** Campaigns whose API-started send run the test makes itself. */
const held = new Set<string>();
const runtime = useRuntime({
  env: { OUTBOX_PATH: outbox, DELIVERY_RETRY_BASE_SECONDS: '0' },
  interceptInvoke: (name, event) =>
    name === 'sendCampaign' && held.delete((event as { campaignId: string }).campaignId),
});

type Api = ReturnType<typeof apiClient>;

async function draftCampaign(recipients = 0) {
  const credentials = await newApp('send');
  const api = apiClient(runtime.current.url, credentials);
  const template = await api.post('/api/templates', {
    name: 'Greeting',
    title: 'Hello {{name}}',
    body: 'Hi {{name}}, welcome.',
    // A maxLength: without one, {{name}} in the title and the body could render over the limit.
    variableSchema: { name: { type: 'string', required: true, maxLength: 100 } },
  });
  await api.put(`/api/templates/${template.body.data.id}`, { status: 'approved' });
  const campaign = await api.post('/api/campaigns', { name: 'Welcome', templateId: template.body.data.id });
  const id: string = campaign.body.data.id;
  if (recipients > 0) await addRecipients(credentials.appId, id, numberedRecipients(recipients));
  return { api, id, appId: credentials.appId };
}

async function finished(api: Api, id: string, timeout = 90_000) {
  await expect
    .poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data.status, { timeout, interval: 250 })
    .not.toMatch(/^(sending|scheduled)$/);
  return (await api.get(`/api/campaigns/${id}`)).body.data;
}

describe('POST /api/campaigns/{id}/send', () => {
  it('rejects at upload a row whose variables are too large for one recipient, and sends the rest', async () => {
    const api = apiClient(runtime.current.url, await newApp('send'));
    // No maxLength: only the size of a recipient bounds the value.
    const id = await draftWith(api, { note: { type: 'string' } });
    const csv = [
      'user_id,note',
      'small1,hello',
      // Fits a table item, but no delivery message (256 KB): it would leave the campaign sending.
      `big300k,${'x'.repeat(300_000)}`,
      'small2,hi',
      // Over a DynamoDB item (400 KB): it would fail the import half-way.
      `big500k,${'é'.repeat(250_000)}`,
      'small3,hey',
      // 40,000 bytes in the file, but 240,000 in a message: JSON writes each control character as \u0001.
      `ctrl40k,${'\u0001'.repeat(40_000)}`,
      '',
    ].join('\n');
    const upload = await postUpload(api, uploadForm(id, csv));
    expect(upload.status).toBe(200);
    expect(upload.body.data).toMatchObject({ status: 'completed', uploaded: 3, rejected: 3 });
    const { rejections } = (await api.get(`/api/campaigns/${id}/uploads/${upload.body.data.uploadId}`)).body
      .data;
    expect(rejections).toEqual([
      {
        row: 3,
        userId: 'big300k',
        reason: expect.stringMatching(/300000 bytes together, over the limit of 65536 bytes/),
      },
      {
        row: 5,
        userId: 'big500k',
        reason: expect.stringMatching(/500000 bytes together, over the limit of 65536 bytes/),
      },
      {
        row: 7,
        userId: 'ctrl40k',
        reason: expect.stringMatching(/240000 bytes together, over the limit of 65536 bytes/),
      },
    ]);

    expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
    const campaign = await finished(api, id);
    expect(campaign.status).toBe('sent');
    expect(campaign.counts).toEqual({ pending: 0, queued: 0, sent: 3, failed: 0, skipped: 0 });
  });

  it('fails, once and by itself, a recipient stored before the size rule that no message can carry, and sends the rest', async () => {
    const { api, id, appId } = await draftCampaign(0);
    // Written as an older release stored it: 300,000 bytes, past any delivery message.
    await addRecipients(appId, id, [
      ...numberedRecipients(4),
      { userId: 'legacy-big', variables: { name: 'x'.repeat(300_000) } },
    ]);
    expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
    const campaign = await finished(api, id);
    expect(campaign.status).toBe('partially_failed');
    expect(campaign.counts).toEqual({ pending: 0, queued: 0, sent: 4, failed: 1, skipped: 0 });
    const failed = (await api.get(`/api/campaigns/${id}/recipients?status=failed`)).body.data;
    expect(failed.map((r: { userId: string; error?: string }) => [r.userId, r.error])).toEqual([
      [
        'legacy-big',
        expect.stringMatching(
          /^Recipient 'legacy-big' needs a \d+-byte delivery message, over the 245760-byte limit/,
        ),
      ],
    ]);
    const mine = (await readOutbox(outbox)).filter((e) => e.campaignId === id);
    expect(mine.map((e) => e.userId).sort()).toEqual(['u0', 'u1', 'u2', 'u3']);
    // A rerun of the send function (a retry, the backstop) settles nothing again.
    const { sendCampaign } = await sendCampaignFunction();
    expect(await sendCampaign(appId, id)).toMatchObject({ action: 'none', failedTooLarge: 0 });
    expect((await api.get(`/api/campaigns/${id}`)).body.data.counts.failed).toBe(1);
  });

  it('skips such a recipient when the campaign is cancelled before it is sent', async () => {
    const { api, id, appId } = await draftCampaign(0);
    await addRecipients(appId, id, [
      ...numberedRecipients(3),
      { userId: 'legacy-big', variables: { name: 'x'.repeat(300_000) } },
    ]);
    expect((await api.post(`/api/campaigns/${id}/cancel`)).status).toBe(200);
    await expect
      .poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data.counts, { timeout: 60_000 })
      .toEqual({ pending: 0, queued: 0, sent: 0, failed: 0, skipped: 4 });
  });

  it('fails only the recipient whose message would render over the limit, with a template approved before the rule', async () => {
    const credentials = await newApp('send');
    const api = apiClient(runtime.current.url, credentials);
    // Approved before approval checked the largest message: 20 × {{note}}, no maxLength.
    const { createTemplate } = createTemplatesStore(runtime.current.table);
    const now = new Date().toISOString();
    const templateId = newId('tpl');
    await createTemplate({
      id: templateId,
      appId: credentials.appId,
      name: 'Legacy',
      body: `Notes: ${'{{note}} '.repeat(20)}`,
      variableSchema: { note: { type: 'string' } },
      status: 'approved',
      createdAt: now,
      updatedAt: now,
    });
    const id: string = (await api.post('/api/campaigns', { name: 'Legacy', templateId })).body.data.id;
    await addRecipients(credentials.appId, id, [
      { userId: 'small1', variables: { note: 'hi' } },
      // 20 × 10,000 bytes: 200,000, over the 98,304 of one message.
      { userId: 'big', variables: { note: 'x'.repeat(10_000) } },
      { userId: 'small2', variables: { note: 'hey' } },
    ]);

    expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
    const campaign = await finished(api, id);
    expect(campaign.status).toBe('partially_failed');
    expect(campaign.counts).toEqual({ pending: 0, queued: 0, sent: 2, failed: 1, skipped: 0 });
    const failed = (await api.get(`/api/campaigns/${id}/recipients?status=failed`)).body.data;
    expect(failed).toEqual([
      expect.objectContaining({
        userId: 'big',
        error: expect.stringMatching(/over the limit of 98304 bytes .*at \{\{note\}\} in the body/),
      }),
    ]);
    const mine = (await readOutbox(outbox)).filter((e) => e.campaignId === id);
    expect(mine.map((e) => e.userId).sort()).toEqual(['small1', 'small2']);
    expect(mine.find((e) => e.userId === 'small2')?.body).toBe(`Notes: ${'hey '.repeat(20)}`);
  });

  it('delivers each of 10,000 recipients exactly once, rendered with its own variables', async () => {
    const { api, id } = await draftCampaign(10_000);
    const res = await api.post(`/api/campaigns/${id}/send`);
    expect(res.status).toBe(202);
    expect(res.body.data).toEqual({
      id,
      status: 'sending',
      scheduledAt: null,
      updatedAt: expect.any(String),
    });

    const campaign = await finished(api, id, 220_000);
    expect(campaign.status).toBe('sent');
    expect(campaign.counts).toEqual({ pending: 0, queued: 0, sent: 10_000, failed: 0, skipped: 0 });
    expect(campaign.completedAt).toEqual(expect.any(String));

    const mine = (await readOutbox(outbox)).filter((e) => e.campaignId === id);
    expect(mine).toHaveLength(10_000);
    expect(new Set(mine.map((e) => e.userId)).size).toBe(10_000);
    for (const entry of mine) {
      const n = entry.userId.slice(1);
      expect(entry.title).toBe(`Hello Name ${n}`);
      expect(entry.body).toBe(`Hi Name ${n}, welcome.`);
    }

    const sent = await api.get(`/api/campaigns/${id}/recipients?status=sent&limit=3`);
    expect(sent.status).toBe(200);
    expect(sent.body.data).toHaveLength(3);
    expect(sent.body.data[0]).toEqual({
      userId: expect.stringMatching(/^u\d+$/),
      status: 'sent',
      variables: { name: expect.stringMatching(/^Name \d+$/) },
      updatedAt: expect.any(String),
    });
    const next = await api.get(
      `/api/campaigns/${id}/recipients?status=sent&limit=3&cursor=${sent.body.meta.next}`,
    );
    expect(next.body.data).toHaveLength(3);
    expect(next.body.data.map((r: { userId: string }) => r.userId)).not.toContain(sent.body.data[0].userId);
    expect((await api.get(`/api/campaigns/${id}/recipients?status=pending`)).body).toEqual({
      data: [],
      meta: { next: null },
    });
  }, 240_000);

  it('delivers once when the same campaign is sent twice at the same moment', async () => {
    const { api, id } = await draftCampaign(50);
    const answers = await Promise.all([
      api.post(`/api/campaigns/${id}/send`),
      api.post(`/api/campaigns/${id}/send`),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409]);
    const conflict = answers.find((a) => a.status === 409);
    expect(conflict?.body.error.code).toBe('ERR_CONFLICT');

    const campaign = await finished(api, id);
    expect(campaign.counts.sent).toBe(50);
    const mine = (await readOutbox(outbox)).filter((e) => e.campaignId === id);
    expect(mine).toHaveLength(50);
    expect(new Set(mine.map((e) => e.userId)).size).toBe(50);
  });

  it('delivers once with exact counters when the send function runs three times at once (retries, a double fire)', async () => {
    const { api, id, appId } = await draftCampaign(3000);
    held.add(id);
    expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
    expect(held.has(id)).toBe(false);
    const { createSendDispatcher, sendCampaign } = await sendCampaignFunction();
    // Three runs, each held at its first commit until all three have a page on the queue.
    const gate = dispatchGate(3);
    const runs = Array.from({ length: 3 }, () => createSendDispatcher(gate.wrap).sendCampaign(appId, id));
    await gate.reached;
    gate.open();
    const results = (await Promise.all(runs)).map((r) => r.result);
    // Together they sent some pages more than once; the ledger keeps the deliveries single.
    expect(results.reduce((n, r) => n + r.enqueuedMessages, 0)).toBeGreaterThan(
      Math.max(...results.map((r) => r.enqueuedMessages)),
    );

    const campaign = await finished(api, id);
    expect(campaign.status).toBe('sent');
    expect(campaign.counts).toEqual({ pending: 0, queued: 0, sent: 3000, failed: 0, skipped: 0 });
    const mine = (await readOutbox(outbox)).filter((e) => e.campaignId === id);
    expect(mine).toHaveLength(3000);
    // A late rerun (a retried invocation after the end) sends nothing.
    expect(await sendCampaign(appId, id)).toMatchObject({ action: 'none', enqueuedMessages: 0 });
  });

  it('refuses a recipients cursor of another campaign', async () => {
    const first = await draftCampaign(30);
    const page = await first.api.get(`/api/campaigns/${first.id}/recipients?limit=2`);
    expect(page.body.meta.next).toEqual(expect.any(String));
    const second = await first.api.post('/api/campaigns', {
      name: 'Other',
      templateId: (await first.api.get(`/api/campaigns/${first.id}`)).body.data.templateId,
    });
    const res = await first.api.get(
      `/api/campaigns/${second.body.data.id}/recipients?cursor=${page.body.meta.next}`,
    );
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual({ field: 'cursor' });
    const wrongFilter = await first.api.get(
      `/api/campaigns/${first.id}/recipients?status=sent&cursor=${page.body.meta.next}`,
    );
    expect(wrongFilter.status).toBe(400);
  });

  it('answers 409 naming the status when the campaign is no longer a draft', async () => {
    const { api, id } = await draftCampaign(3);
    expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
    await finished(api, id);
    const again = await api.post(`/api/campaigns/${id}/send`);
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/is sent/);
    expect((await readOutbox(outbox)).filter((e) => e.campaignId === id)).toHaveLength(3);
  });

  it('answers 409 while an import is running', async () => {
    const { api, id, appId } = await draftCampaign(2);
    // A live import: its upload is claimed, with a lease that has not run out.
    const { createUpload, claimUpload } = createUploadsStore(runtime.current.table);
    const upload = newUpload({
      uploadId: 'upl_running',
      appId,
      campaignId: id,
      source: 'presigned',
      maxBytes: 10,
    });
    await createUpload(upload);
    expect((await claimUpload(appId, id, upload.uploadId, 'running-importer')).outcome).toBe('claimed');
    const res = await api.post(`/api/campaigns/${id}/send`);
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/import running/);
    expect((await api.get(`/api/campaigns/${id}`)).body.data.status).toBe('draft');
  });

  it('does not start sending when an import claims the campaign after the API checked it', async () => {
    const { id, appId, api } = await draftCampaign(2);
    // The API read the campaign idle; then an upload claims it before the status write.
    const { createUpload, claimUpload } = createUploadsStore(runtime.current.table);
    const upload = newUpload({
      uploadId: 'upl_late',
      appId,
      campaignId: id,
      source: 'presigned',
      maxBytes: 10,
    });
    await createUpload(upload);
    expect((await claimUpload(appId, id, upload.uploadId, 'late-importer')).outcome).toBe('claimed');
    const { startSending } = createCampaignsStore(runtime.current.table);
    await expect(startSending(appId, id, 'sending')).rejects.toThrow(/import running \(upload 'upl_late'\)/);
    await expect(
      startSending(appId, id, 'scheduled', { scheduledAt: new Date(Date.now() + 60_000).toISOString() }),
    ).rejects.toThrow(/import running/);
    expect((await api.get(`/api/campaigns/${id}`)).body.data.status).toBe('draft');
  });

  it('does not start sending a campaign that has no recipients, whatever the API read', async () => {
    const { id, appId } = await draftCampaign(0);
    const { startSending } = createCampaignsStore(runtime.current.table);
    await expect(startSending(appId, id, 'sending')).rejects.toThrow(/has no recipients/);
  });

  it('answers 409 for a campaign without recipients', async () => {
    const { api, id } = await draftCampaign(0);
    const res = await api.post(`/api/campaigns/${id}/send`);
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/no recipients/);
  });

  it('answers 400 naming scheduledAt when it is in the past or malformed', async () => {
    const { api, id } = await draftCampaign(1);
    const past = await api.post(`/api/campaigns/${id}/send`, { scheduledAt: '2020-01-01T00:00:00Z' });
    expect(past.status).toBe(400);
    expect(past.body.error.message).toMatch(/scheduledAt/);
    const malformed = await api.post(`/api/campaigns/${id}/send`, { scheduledAt: 'tomorrow' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.message).toMatch(/scheduledAt/);
    expect((await api.get(`/api/campaigns/${id}`)).body.data.status).toBe('draft');
  });

  it("answers 404 for another app's campaign", async () => {
    const { id } = await draftCampaign(1);
    const other = apiClient(runtime.current.url, await newApp('other'));
    expect((await other.post(`/api/campaigns/${id}/send`)).status).toBe(404);
    expect((await other.get(`/api/campaigns/${id}/recipients`)).status).toBe(404);
  });
});
