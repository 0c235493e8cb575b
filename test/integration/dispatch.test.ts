import { describe, expect, it } from 'vitest';
import { addRecipients, numberedRecipients } from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';

// No consumer: what the send function leaves on the queue and in the table stays there.
const runtime = useRuntime({
  deliveryConcurrency: 0,
  env: { DISPATCH_MARK_QUEUED: 'true', DISPATCH_PAGE_SIZE: '7' },
});

describe('send function with DISPATCH_MARK_QUEUED', () => {
  it('moves the counters and every dispatched recipient from pending to queued', async () => {
    const credentials = await newApp('dispatch');
    const api = apiClient(runtime.current.url, credentials);
    const template = await api.post('/api/templates', { name: 'T', body: 'Hi', variableSchema: {} });
    await api.put(`/api/templates/${template.body.data.id}`, { status: 'approved' });
    const { id } = (await api.post('/api/campaigns', { name: 'C', templateId: template.body.data.id })).body
      .data;
    await addRecipients(credentials.appId, id, numberedRecipients(150));

    expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
    await expect
      .poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data.counts, { timeout: 30_000 })
      .toEqual({ pending: 0, queued: 150, sent: 0, failed: 0, skipped: 0 });
    await runtime.current.idle();

    const queued: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { data: { userId: string }[]; meta: { next: string | null } } } = await api.get(
        `/api/campaigns/${id}/recipients?status=queued&limit=100${cursor ? `&cursor=${cursor}` : ''}`,
      );
      queued.push(...page.body.data.map((r) => r.userId));
      cursor = page.body.meta.next;
    } while (cursor);
    expect(new Set(queued).size).toBe(150);
    expect((await api.get(`/api/campaigns/${id}/recipients?status=pending`)).body.data).toEqual([]);
  });
});
