import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readOutbox } from '#shared/adapters/outbox-channel.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';

const outbox = join(mkdtempSync(join(tmpdir(), 'notify-')), 'outbox.jsonl');
const runtime = useRuntime({ env: { OUTBOX_PATH: outbox } });

type Api = ReturnType<typeof apiClient>;

async function client() {
  return apiClient(runtime.current.url, await newApp('ntf'));
}

async function template(api: Api, approve = true): Promise<string> {
  const { id } = (
    await api.post('/api/templates', {
      name: 'Order',
      title: 'Order {{order}}',
      body: 'Hi {{name}}, order {{order}} shipped.',
      variableSchema: {
        name: { type: 'string', default: 'there' },
        order: { type: 'number', required: true },
      },
    })
  ).body.data;
  if (approve) await api.put(`/api/templates/${id}`, { status: 'approved' });
  return id;
}

describe('POST /api/notifications/send', () => {
  it('delivers one message to each of 3 users through the queue, with shared and own variables', async () => {
    const api = await client();
    const id = await template(api);
    const res = await api.post('/api/notifications/send', {
      template: { id, variables: { order: 7 } },
      targets: ['ada', 'bob', 'cy'],
      variables: { ada: { name: 'Ada' }, cy: { name: 'Cy', order: 9 } },
    });
    expect(res.status).toBe(202);
    expect(res.body.data).toEqual({ notificationId: expect.stringMatching(/^ntf_/), total: 3 });
    const { notificationId } = res.body.data;

    await expect
      .poll(async () => (await readOutbox(outbox)).filter((e) => e.campaignId === notificationId).length, {
        timeout: 30_000,
      })
      .toBe(3);
    const entries = (await readOutbox(outbox)).filter((e) => e.campaignId === notificationId);
    expect(Object.fromEntries(entries.map((e) => [e.userId, e.body]))).toEqual({
      ada: 'Hi Ada, order 7 shipped.',
      bob: 'Hi there, order 7 shipped.',
      cy: 'Hi Cy, order 9 shipped.',
    });
    // A one-call send is not a campaign of the app.
    expect((await api.get('/api/campaigns')).body.data).toEqual([]);
    expect((await api.get(`/api/campaigns/${notificationId}`)).status).toBe(404);
  });

  it('answers 400 ERR_TEMPLATE_NOT_APPROVED for a draft template', async () => {
    const api = await client();
    const res = await api.post('/api/notifications/send', {
      template: { id: await template(api, false), variables: { order: 1 } },
      targets: ['ada'],
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_TEMPLATE_NOT_APPROVED');
  });

  it('answers 400 ERR_TARGET_LIMIT_EXCEEDED over 10,000 targets', async () => {
    const api = await client();
    const res = await api.post('/api/notifications/send', {
      template: { id: await template(api), variables: { order: 1 } },
      targets: Array.from({ length: 10_001 }, (_, i) => `u${i}`),
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_TARGET_LIMIT_EXCEEDED');
  });

  it('answers 400 ERR_INVALID_VARIABLES naming the user and key', async () => {
    const api = await client();
    const res = await api.post('/api/notifications/send', {
      template: { id: await template(api) },
      targets: ['ada', 'bob'],
      variables: { ada: { order: 3 }, bob: { order: 'x' } },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_INVALID_VARIABLES');
    expect(res.body.error.message).toMatch(/user 'bob': 'order' must be a number/);
  });

  it('answers 400 for no targets, and 404 for an unknown template', async () => {
    const api = await client();
    const empty = await api.post('/api/notifications/send', {
      template: { id: await template(api) },
      targets: [],
    });
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toMatch(/targets/);
    const unknown = await api.post('/api/notifications/send', {
      template: { id: 'tpl_nope' },
      targets: ['a'],
    });
    expect(unknown.status).toBe(404);
  });
});
