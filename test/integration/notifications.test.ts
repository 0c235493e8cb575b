import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { readOutbox } from '#shared/adapters/outbox-channel.ts';
import { storeAppId } from '#shared/domain/sending.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { postUpload, storedRecipient, uploadForm } from '#test/support/uploads.ts';

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

  it('refuses a target that breaks the user_id rule, with the reason a CSV row gets', async () => {
    const api = await client();
    const res = await api.post('/api/notifications/send', {
      template: { id: await template(api), variables: { order: 1 } },
      targets: ['ada', 'has space'],
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      code: 'ERR_BAD_REQUEST',
      message:
        "Invalid user ids: targets[1]: only letters, digits and _ @ . : - are allowed, got 'has space'.",
      details: { field: 'targets', invalid: ['has space'] },
    });
  });

  it('stores for each target what a CSV row of the same values stores: an empty value takes its default', async () => {
    const credentials = await newApp('ntf');
    const api = apiClient(runtime.current.url, credentials);
    const id = await template(api);
    const res = await api.post('/api/notifications/send', {
      template: { id, variables: { order: 7 } },
      targets: ['ada', 'bob'],
      variables: { ada: { name: '' }, bob: { name: 'Bob' } },
    });
    expect(res.status).toBe(202);
    const { notificationId } = res.body.data;
    const campaign = (await api.post('/api/campaigns', { name: 'C', templateId: id })).body.data;
    const upload = await postUpload(api, uploadForm(campaign.id, 'user_id,name,order\nada,,7\nbob,Bob,7\n'));
    expect(upload.body.data).toMatchObject({ uploaded: 2 });

    for (const userId of ['ada', 'bob']) {
      const sent = await storedRecipient(
        storeAppId(credentials.appId, notificationId),
        notificationId,
        userId,
      );
      const uploaded = await storedRecipient(credentials.appId, campaign.id, userId);
      expect(sent?.variables).toEqual(uploaded?.variables);
    }
    expect(
      (await storedRecipient(storeAppId(credentials.appId, notificationId), notificationId, 'ada'))
        ?.variables,
    ).toEqual({ name: 'there', order: 7 });
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

/** The one-call sends stored for the app (hidden campaigns in its notification scope). */
async function storedNotifications(appId: string): Promise<{ id: string; recipientCount: number }[]> {
  const { client: documents, tableName } = runtime.current.table;
  const { Items = [] } = await documents.send(
    new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :campaign)',
      ExpressionAttributeValues: { ':pk': `APP#${appId}#NTF`, ':campaign': 'CAMPAIGN#' },
      ConsistentRead: true,
    }),
  );
  return Items.map((item) => ({ id: item.id as string, recipientCount: item.recipientCount as number }));
}

describe('POST /api/notifications/send with an Idempotency-Key', () => {
  const send = (api: Api, body: unknown, key?: string) =>
    api.request<any>('POST', '/api/notifications/send', {
      json: body,
      ...(key === undefined ? {} : { headers: { 'Idempotency-Key': key } }),
    });

  it('answers a retry with the first notification, and delivers each target once', async () => {
    const credentials = await newApp('idm');
    const api = apiClient(runtime.current.url, credentials);
    const body = {
      template: { id: await template(api), variables: { order: 5 } },
      targets: ['ada', 'bob', 'cy'],
    };
    const first = await send(api, body, 'order-5-shipped');
    // The same request, its JSON keys in another order.
    const retry = await send(api, { targets: body.targets, template: body.template }, 'order-5-shipped');
    expect(first.status).toBe(202);
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const { notificationId } = first.body.data;
    expect(await storedNotifications(credentials.appId)).toEqual([{ id: notificationId, recipientCount: 3 }]);

    await expect
      .poll(async () => (await readOutbox(outbox)).filter((e) => e.appId === credentials.appId).length, {
        timeout: 30_000,
      })
      .toBe(3);
    const entries = (await readOutbox(outbox)).filter((e) => e.appId === credentials.appId);
    expect(entries.map((e) => `${e.campaignId}/${e.userId}`).sort()).toEqual(
      ['ada', 'bob', 'cy'].map((u) => `${notificationId}/${u}`),
    );
  });

  it('answers 422 ERR_IDEMPOTENCY_KEY_REUSED for the same key with another body, creating nothing', async () => {
    const credentials = await newApp('idm');
    const api = apiClient(runtime.current.url, credentials);
    const id = await template(api);
    const first = await send(api, { template: { id, variables: { order: 1 } }, targets: ['ada'] }, 'k-1');
    const other = await send(api, { template: { id, variables: { order: 2 } }, targets: ['ada'] }, 'k-1');
    expect(first.status).toBe(202);
    expect(other.status).toBe(422);
    expect(other.body.error).toMatchObject({
      code: 'ERR_IDEMPOTENCY_KEY_REUSED',
      details: { field: 'Idempotency-Key' },
    });
    expect(other.body.error.message).toMatch(/Idempotency-Key was already used with a different request/);
    expect(await storedNotifications(credentials.appId)).toEqual([
      { id: first.body.data.notificationId, recipientCount: 1 },
    ]);
  });

  it('gives another app using the same key its own notification', async () => {
    const one = apiClient(runtime.current.url, await newApp('idm'));
    const twoCredentials = await newApp('idm');
    const two = apiClient(runtime.current.url, twoCredentials);
    const body = (id: string) => ({ template: { id, variables: { order: 3 } }, targets: ['ada'] });
    const a = await send(one, body(await template(one)), 'shared-key');
    const b = await send(two, body(await template(two)), 'shared-key');
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
    expect(b.body.data.notificationId).not.toBe(a.body.data.notificationId);
    expect(await storedNotifications(twoCredentials.appId)).toEqual([
      { id: b.body.data.notificationId, recipientCount: 1 },
    ]);
  });

  it('sends twice without a key, as before', async () => {
    const credentials = await newApp('idm');
    const api = apiClient(runtime.current.url, credentials);
    const body = { template: { id: await template(api), variables: { order: 4 } }, targets: ['ada'] };
    const a = await send(api, body);
    const b = await send(api, body);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(b.body.data.notificationId).not.toBe(a.body.data.notificationId);
    expect((await storedNotifications(credentials.appId)).map((n) => n.id).sort()).toEqual(
      [a.body.data.notificationId, b.body.data.notificationId].sort(),
    );
  });

  it('answers 400 naming the header for a key too long or with other characters', async () => {
    const api = await client();
    const body = { template: { id: await template(api), variables: { order: 4 } }, targets: ['ada'] };
    for (const key of ['k'.repeat(256), 'has space']) {
      const res = await send(api, body, key);
      expect(res.status).toBe(400);
      expect(res.body.error.details).toMatchObject({ field: 'Idempotency-Key', maxLength: 255 });
      expect(res.body.error.message).toMatch(/Idempotency-Key header must be 1-255 letters, digits/);
    }
    expect((await send(api, body, 'k'.repeat(255))).status).toBe(202);
  });
});
