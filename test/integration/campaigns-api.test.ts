import { describe, expect, it } from 'vitest';
import { newCampaign } from '#shared/domain/campaigns.ts';
import { ConflictError } from '#shared/errors.ts';
import { createCampaignsStore } from '#shared/store/campaigns.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';

const runtime = useRuntime();

const template = { name: 'Promo', body: 'Hi {{name}}', variableSchema: { name: { type: 'string' } } };
const zeroCounts = { pending: 0, queued: 0, sent: 0, failed: 0, skipped: 0 };

async function client() {
  const credentials = await newApp('cmp');
  return { api: apiClient(runtime.current.url, credentials), appId: credentials.appId };
}

type Api = ReturnType<typeof apiClient>;

async function approvedTemplate(api: Api): Promise<string> {
  const { id } = (await api.post('/api/templates', template)).body.data;
  expect((await api.put(`/api/templates/${id}`, { status: 'approved' })).status).toBe(200);
  return id;
}

describe('campaigns API', () => {
  it('creates a draft campaign from an approved template, with every field documented', async () => {
    const { api, appId } = await client();
    const templateId = await approvedTemplate(api);

    const created = await api.post('/api/campaigns', { name: 'Spring sale', templateId, tag: 'spring' });
    expect(created.status).toBe(201);
    expect(created.body.data).toEqual({
      id: expect.stringMatching(/^cmp_/),
      appId,
      name: 'Spring sale',
      templateId,
      tag: 'spring',
      status: 'draft',
      recipientCount: 0,
      scheduledAt: null,
      counts: zeroCounts,
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      updatedAt: created.body.data.createdAt,
    });

    const read = await api.get(`/api/campaigns/${created.body.data.id}`);
    expect(read.status).toBe(200);
    expect(read.body.data).toEqual(created.body.data);
  });

  it('shows tag as null when none is given', async () => {
    const { api } = await client();
    const created = await api.post('/api/campaigns', {
      name: 'No tag',
      templateId: await approvedTemplate(api),
    });
    expect(created.status).toBe(201);
    expect(created.body.data.tag).toBeNull();
  });

  it('answers 404 for an unknown template', async () => {
    const { api } = await client();
    const res = await api.post('/api/campaigns', { name: 'x', templateId: 'tpl_missing' });
    expect(res.status).toBe(404);
    expect(res.body.error).toEqual({
      code: 'ERR_NOT_FOUND',
      message: "Template 'tpl_missing' was not found.",
      details: { templateId: 'tpl_missing' },
    });
  });

  it("answers 404 for another app's approved template", async () => {
    const owner = await client();
    const other = await client();
    const templateId = await approvedTemplate(owner.api);
    const res = await other.api.post('/api/campaigns', { name: 'x', templateId });
    expect(res.status).toBe(404);
    expect(res.body.error.message).toBe(`Template '${templateId}' was not found.`);
  });

  it.each(['draft', 'archived'])('refuses a %s template with ERR_TEMPLATE_NOT_APPROVED', async (status) => {
    const { api } = await client();
    const { id } = (await api.post('/api/templates', template)).body.data;
    if (status === 'archived') await api.put(`/api/templates/${id}`, { status: 'archived' });
    const res = await api.post('/api/campaigns', { name: 'x', templateId: id });
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({
      code: 'ERR_TEMPLATE_NOT_APPROVED',
      message: `Template '${id}' is ${status}; approve it (PUT /api/templates/${id} with {"status":"approved"}) before using it.`,
      details: { templateId: id, status },
    });
  });

  it('rejects a body with missing, unknown or over-long fields, naming each', async () => {
    const { api } = await client();
    const missing = await api.post('/api/campaigns', { templateId: 'tpl_x' });
    expect(missing.status).toBe(400);
    expect(missing.body.error.details.fields).toEqual([expect.objectContaining({ field: 'name' })]);

    const unknown = await api.post('/api/campaigns', { name: 'x', templateId: 'tpl_x', audience: 'all' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain('audience: unknown field; remove it');

    const long = await api.post('/api/campaigns', {
      name: 'n'.repeat(201),
      templateId: 'tpl_x',
      tag: 't'.repeat(101),
    });
    expect(long.status).toBe(400);
    expect(long.body.error.details.fields.map((f: { field: string }) => f.field)).toEqual(['name', 'tag']);
  });

  it('rejects malformed JSON and a non-JSON content type', async () => {
    const { api } = await client();
    const malformed = await api.request<any>('POST', '/api/campaigns', {
      body: 'name=x',
      headers: { 'content-type': 'application/json' },
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.message).toBe('The body is not valid JSON.');
    const form = await api.request<any>('POST', '/api/campaigns', {
      body: 'name=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(400);
    expect(form.body.error.message).toContain('Content-Type must be application/json');
  });

  it('answers 404 for an unknown campaign', async () => {
    const { api } = await client();
    const res = await api.get('/api/campaigns/cmp_missing');
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({
      code: 'ERR_NOT_FOUND',
      message: "Campaign 'cmp_missing' was not found.",
    });
  });

  it('lists campaigns in pages, and by status', async () => {
    const { api, appId } = await client();
    const templateId = await approvedTemplate(api);
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      ids.push((await api.post('/api/campaigns', { name: `C${i}`, templateId })).body.data.id);
    }
    const { transitionCampaign } = createCampaignsStore(runtime.current.table);
    await transitionCampaign(appId, ids[1] as string, ['draft'], 'cancelled');
    await transitionCampaign(appId, ids[3] as string, ['draft'], 'scheduled', {
      scheduledAt: '2030-01-01T00:00:00.000Z',
    });

    const first = await api.get('/api/campaigns?limit=3');
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(3);
    const second = await api.get(`/api/campaigns?limit=3&cursor=${first.body.meta.next}`);
    expect(second.body.data).toHaveLength(2);
    expect(second.body.meta.next).toBeNull();
    expect([...first.body.data, ...second.body.data].map((c: { id: string }) => c.id).sort()).toEqual(
      [...ids].sort(),
    );
    for (const c of first.body.data) expect(Object.keys(c).some((k) => /^(pk|sk|gsi1)/.test(k))).toBe(false);

    const drafts = await api.get('/api/campaigns?status=draft');
    expect(drafts.body.data.map((c: { id: string }) => c.id).sort()).toEqual([ids[0], ids[2], ids[4]].sort());
    const cancelled = await api.get('/api/campaigns?status=cancelled');
    expect(cancelled.body).toEqual({
      data: [expect.objectContaining({ id: ids[1], status: 'cancelled' })],
      meta: { next: null },
    });
    const scheduled = await api.get('/api/campaigns?status=scheduled');
    expect(scheduled.body.data).toEqual([
      expect.objectContaining({ id: ids[3], status: 'scheduled', scheduledAt: '2030-01-01T00:00:00.000Z' }),
    ]);
    expect((await api.get('/api/campaigns?status=sent')).body).toEqual({ data: [], meta: { next: null } });

    const draftPage = await api.get('/api/campaigns?status=draft&limit=2');
    expect(draftPage.body.data).toHaveLength(2);
    const draftRest = await api.get(`/api/campaigns?status=draft&limit=2&cursor=${draftPage.body.meta.next}`);
    expect(draftRest.body.data).toHaveLength(1);
    expect(draftRest.body.meta.next).toBeNull();

    // A cursor belongs to its listing: reusing it without the filter is a 400, not a 500.
    const mixed = await api.get(`/api/campaigns?cursor=${draftPage.body.meta.next}`);
    expect(mixed.status).toBe(400);
    expect(mixed.body.error.details).toEqual({ field: 'cursor' });
  });

  it('rejects an unknown status filter, listing the valid values', async () => {
    const { api } = await client();
    const res = await api.get('/api/campaigns?status=done');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'ERR_BAD_REQUEST', details: { field: 'status' } });
    expect(res.body.error.message).toBe(
      "status 'done' is not a campaign status; use one of draft, scheduled, sending, sent, partially_failed, failed, cancelled.",
    );
  });

  it("hides one app's campaigns from another: get is 404 like a missing one, lists are empty", async () => {
    const owner = await client();
    const other = await client();
    const { id } = (
      await owner.api.post('/api/campaigns', {
        name: 'private',
        templateId: await approvedTemplate(owner.api),
      })
    ).body.data;

    const theirs = await other.api.get(`/api/campaigns/${id}`);
    expect(theirs.status).toBe(404);
    expect(theirs.body.error).toEqual({
      code: 'ERR_NOT_FOUND',
      message: `Campaign '${id}' was not found.`,
      details: { campaignId: id },
    });
    expect((await other.api.get('/api/campaigns')).body.data).toEqual([]);
    expect((await other.api.get('/api/campaigns?status=draft')).body.data).toEqual([]);
    const { transitionCampaign } = createCampaignsStore(runtime.current.table);
    await expect(transitionCampaign(other.appId, id, ['draft'], 'cancelled')).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
    });
    expect((await owner.api.get(`/api/campaigns/${id}`)).body.data.status).toBe('draft');
  });
});

describe('campaign store', () => {
  it('refuses to store a campaign whose template is no longer approved, as when archived meanwhile', async () => {
    const { api, appId } = await client();
    const templateId = await approvedTemplate(api);
    await api.put(`/api/templates/${templateId}`, { status: 'archived' });
    const { createCampaign } = createCampaignsStore(runtime.current.table);
    const campaign = newCampaign(
      { name: 'late', templateId },
      { id: 'cmp_late', appId, now: new Date().toISOString() },
    );

    await expect(createCampaign(campaign)).rejects.toMatchObject({
      code: 'ERR_TEMPLATE_NOT_APPROVED',
      details: { templateId, status: 'archived' },
    });
    await expect(createCampaign({ ...campaign, templateId: 'tpl_gone' })).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
    });
    expect((await api.get('/api/campaigns/cmp_late')).status).toBe(404);
  });
});

describe('campaign transitions', () => {
  it('lets exactly one of two concurrent transitions of a campaign win', async () => {
    const { api, appId } = await client();
    const { id } = (
      await api.post('/api/campaigns', { name: 'race', templateId: await approvedTemplate(api) })
    ).body.data;
    const { transitionCampaign } = createCampaignsStore(runtime.current.table);

    const results = await Promise.allSettled([
      transitionCampaign(appId, id, ['draft'], 'cancelled'),
      transitionCampaign(appId, id, ['draft'], 'cancelled'),
    ]);

    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(won[0]?.value).toMatchObject({ id, status: 'cancelled' });
    const reason = lost[0]?.reason;
    expect(reason).toBeInstanceOf(ConflictError);
    expect(reason.message).toBe(`Campaign '${id}' is cancelled; it can become cancelled only from draft.`);
    expect((await api.get(`/api/campaigns/${id}`)).body.data.status).toBe('cancelled');
  });

  it('lets exactly one of two different racing transitions win (send now vs cancel)', async () => {
    const { api, appId } = await client();
    const { id } = (
      await api.post('/api/campaigns', { name: 'race2', templateId: await approvedTemplate(api) })
    ).body.data;
    const { transitionCampaign } = createCampaignsStore(runtime.current.table);
    const results = await Promise.allSettled([
      transitionCampaign(appId, id, ['draft'], 'sending'),
      transitionCampaign(appId, id, ['draft', 'scheduled'], 'cancelled'),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const final = (await api.get(`/api/campaigns/${id}`)).body.data.status;
    expect(['sending', 'cancelled']).toContain(final);
    const listed = await api.get(`/api/campaigns?status=${final}`);
    expect(listed.body.data.map((c: { id: string }) => c.id)).toEqual([id]);
    expect((await api.get('/api/campaigns?status=draft')).body.data).toEqual([]);
  });

  it('sets the extra fields of a transition and stamps updatedAt', async () => {
    const { api, appId } = await client();
    const created = (await api.post('/api/campaigns', { name: 's', templateId: await approvedTemplate(api) }))
      .body.data;
    const { transitionCampaign } = createCampaignsStore(runtime.current.table);
    const moved = await transitionCampaign(
      appId,
      created.id,
      ['draft'],
      'scheduled',
      { scheduledAt: '2031-05-01T10:00:00.000Z' },
      '2030-12-31T00:00:00.000Z',
    );
    // The stored campaign has no tag (the API shows it as null) and no table keys.
    const { tag: _tag, ...rest } = created;
    expect(moved).toEqual({
      ...rest,
      status: 'scheduled',
      scheduledAt: '2031-05-01T10:00:00.000Z',
      updatedAt: '2030-12-31T00:00:00.000Z',
    });
  });

  it('refuses a transition the state machine does not allow as a caller bug, before writing', async () => {
    const { api, appId } = await client();
    const { id } = (await api.post('/api/campaigns', { name: 'x', templateId: await approvedTemplate(api) }))
      .body.data;
    const { transitionCampaign } = createCampaignsStore(runtime.current.table);
    await expect(transitionCampaign(appId, id, ['draft'], 'sent')).rejects.toThrow(
      'transitionCampaign: draft -> sent is not a campaign transition',
    );
    expect((await api.get(`/api/campaigns/${id}`)).body.data.status).toBe('draft');
  });

  it('throws NotFoundError for a campaign that does not exist', async () => {
    const { appId } = await client();
    const { transitionCampaign } = createCampaignsStore(runtime.current.table);
    await expect(transitionCampaign(appId, 'cmp_missing', ['draft'], 'cancelled')).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
    });
  });
});
