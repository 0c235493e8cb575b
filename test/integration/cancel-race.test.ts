/**
 * Cancel racing the delivery consumers: after `POST /cancel` answers, a consumer may
 * finish only the chunk it had already claimed; nothing is claimed after the cancel
 * commits. Checked per recipient: whoever was delivered after the answer belongs to a
 * chunk claimed before it, every delivered recipient is stored `sent` (once), and every
 * other one `skipped`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readOutbox } from '#shared/adapters/outbox-channel.ts';
import { addRecipients, allRecipients, ledgerItems, numberedRecipients } from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';

const outbox = join(mkdtempSync(join(tmpdir(), 'cancel-race-')), 'outbox.jsonl');
const runtime = useRuntime({ deliveryConcurrency: 4, env: { OUTBOX_PATH: outbox } });

const TOTAL = 10_000;

describe('cancel while the consumers deliver', () => {
  it('delivers after the answer only chunks claimed before it, and skips every other recipient', async () => {
    const credentials = await newApp('cancel-race');
    const api = apiClient(runtime.current.url, credentials);
    const template = await api.post('/api/templates', {
      name: 'Race',
      body: 'Hi {{name}}',
      variableSchema: { name: { type: 'string' } },
    });
    await api.put(`/api/templates/${template.body.data.id}`, { status: 'approved' });
    const id: string = (await api.post('/api/campaigns', { name: 'Race', templateId: template.body.data.id }))
      .body.data.id;
    await addRecipients(credentials.appId, id, numberedRecipients(TOTAL));
    const delivered = async () => (await readOutbox(outbox)).filter((e) => e.campaignId === id);

    expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
    // Cancel mid-delivery: once the consumers have delivered something, long before the end.
    await expect
      .poll(async () => (await delivered()).length, { timeout: 60_000, interval: 20 })
      .toBeGreaterThan(0);
    const res = await api.post(`/api/campaigns/${id}/cancel`);
    const answeredAt = Date.now();
    expect(res.status).toBe(200);

    await expect
      .poll(
        async () => {
          const { counts } = (await api.get(`/api/campaigns/${id}`)).body.data;
          return counts.sent + counts.failed + counts.skipped;
        },
        { timeout: 120_000, interval: 250 },
      )
      .toBe(TOTAL);
    const campaign = (await api.get(`/api/campaigns/${id}`)).body.data;
    expect(campaign.status).toBe('cancelled');

    const lines = await delivered();
    const items = await allRecipients(credentials.appId, id);
    const ledger = await ledgerItems(credentials.appId, id);
    const chunkOf = new Map(items.map((r) => [r.userId, r.chunkId]));

    // Nobody twice; exactly the delivered are sent, everyone else skipped.
    const deliveredUsers = new Set(lines.map((l) => l.userId));
    expect(deliveredUsers.size).toBe(lines.length);
    expect(items).toHaveLength(TOTAL);
    const wrong = items.filter((r) => r.status !== (deliveredUsers.has(r.userId) ? 'sent' : 'skipped'));
    expect(wrong.map((r) => `${r.userId}:${r.status}`)).toEqual([]);
    expect(campaign.counts).toEqual({
      pending: 0,
      queued: 0,
      sent: deliveredUsers.size,
      failed: 0,
      skipped: TOTAL - deliveredUsers.size,
    });
    expect(deliveredUsers.size).toBeLessThan(TOTAL);

    // After the answer, only chunks claimed before it were delivered.
    const late = lines.filter((l) => Date.parse(l.deliveredAt) > answeredAt);
    const lateChunks = new Set(late.map((l) => chunkOf.get(l.userId)));
    const claimedAfter = [...lateChunks].filter((chunkId) => {
      const claimedAt = ledger.get(chunkId ?? '')?.claimedAt;
      return claimedAt === undefined || Date.parse(claimedAt) >= answeredAt;
    });
    expect(claimedAfter).toEqual([]);
    // And no chunk at all was claimed after the answer.
    const claimedLate = [...ledger.values()].filter(
      (c) => c.claimedAt && Date.parse(c.claimedAt) >= answeredAt,
    );
    expect(claimedLate.map((c) => c.chunkId)).toEqual([]);
  }, 600_000);
});
