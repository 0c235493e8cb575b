/**
 * Each app's own destination, end to end: the routes, two apps with the same user ids
 * each reaching only their own signed webhook, per-message rejections, `429` with `Retry-After`, the test send, and a one-call send.
 * Receivers run on loopback (allowed in the local runtime only); every request is
 * verified with the `standardwebhooks` package's own `Webhook.verify`.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { addRecipients, numberedRecipients, storedRecipients } from '#test/support/recipients.ts';
import { apiClient, type Credentials, newApp, useRuntime } from '#test/support/runtime.ts';
import {
  type ReceivedRequest,
  startWebhookReceiver,
  verifies,
  type WebhookReceiver,
} from '#test/support/webhook-receiver.ts';

const runtime = useRuntime({
  env: {
    // Every chunk reads its app's destination afresh: a change shows at once.
    DESTINATION_CACHE_MS: '0',
    DELIVERY_RETRY_BASE_SECONDS: '0',
    WEBHOOK_BASE_DELAY_MS: '10',
  },
});

type Api = ReturnType<typeof apiClient>;
const receivers: WebhookReceiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});

async function receiver(): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver();
  receivers.push(r);
  return r;
}

async function app(prefix: string): Promise<{ api: Api; credentials: Credentials; templateId: string }> {
  const credentials = await newApp(prefix);
  const api = apiClient(runtime.current.url, credentials);
  const template = await api.post('/api/templates', {
    name: 'Greeting',
    title: 'Hello {{name}}',
    body: 'Hi {{name}}.',
    variableSchema: { name: { type: 'string', required: true, maxLength: 100 } },
  });
  await api.put(`/api/templates/${template.body.data.id}`, { status: 'approved' });
  return { api, credentials, templateId: template.body.data.id };
}

async function campaignOf(
  owner: { api: Api; credentials: Credentials; templateId: string },
  recipients: number,
): Promise<string> {
  const created = await owner.api.post('/api/campaigns', { name: 'C', templateId: owner.templateId });
  const id: string = created.body.data.id;
  await addRecipients(owner.credentials.appId, id, numberedRecipients(recipients));
  return id;
}

async function finished(api: Api, id: string) {
  await expect
    .poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data.status, {
      timeout: 60_000,
      interval: 200,
    })
    .not.toMatch(/^(sending|scheduled)$/);
  return (await api.get(`/api/campaigns/${id}`)).body.data;
}

const userIdsOf = (requests: readonly ReceivedRequest[]) =>
  requests.flatMap((r) => r.json.messages.map((m) => m.userId)).sort();

describe('the destination routes', () => {
  it('answers the default, then a webhook with its secret once, then only the hint', async () => {
    const { api } = await app('dst');
    const hook = await receiver();
    expect((await api.get('/api/destination')).body.data).toEqual({
      kind: 'default',
      batchSize: 100,
      ratePerSecond: null,
      updatedAt: null,
    });

    const first = await api.put('/api/destination', { kind: 'webhook', url: hook.url, batchSize: 25 });
    expect(first.status).toBe(200);
    const secret: string = first.body.data.signingSecret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64').length).toBeGreaterThanOrEqual(24);
    expect(first.body.data).toMatchObject({
      kind: 'webhook',
      url: hook.url,
      batchSize: 25,
      ratePerSecond: null,
      secretHint: secret.slice(-4),
    });

    const second = await api.put('/api/destination', { kind: 'webhook', url: hook.url, ratePerSecond: 50 });
    expect(second.body.data.signingSecret).toBeUndefined();
    expect(second.body.data).toMatchObject({
      batchSize: 100,
      ratePerSecond: 50,
      secretHint: secret.slice(-4),
    });
    const shown = await api.get('/api/destination');
    expect(shown.body.data).toEqual({
      kind: 'webhook',
      url: hook.url,
      batchSize: 100,
      ratePerSecond: 50,
      secretHint: secret.slice(-4),
      updatedAt: expect.any(String),
    });
    expect(JSON.stringify(shown.body)).not.toContain(secret.slice('whsec_'.length, -4));

    const back = await api.put('/api/destination', { kind: 'default' });
    expect(back.body.data).toEqual({
      kind: 'default',
      batchSize: 100,
      ratePerSecond: null,
      updatedAt: expect.any(String),
    });
    // The secret is kept for a later webhook: not answered again.
    const again = await api.put('/api/destination', { kind: 'webhook', url: hook.url });
    expect(again.body.data.signingSecret).toBeUndefined();
    expect(again.body.data.secretHint).toBe(secret.slice(-4));
  });

  it('stores the secret only encrypted', async () => {
    const { api, credentials } = await app('dst');
    const hook = await receiver();
    const secret: string = (await api.put('/api/destination', { kind: 'webhook', url: hook.url })).body.data
      .signingSecret;
    const rotated: string = (await api.post('/api/destination/rotate-secret')).body.data.signingSecret;
    const { client: documents, tableName } = runtime.current.table;
    const { Items } = await documents.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: 'begins_with(pk, :pk)',
        ExpressionAttributeValues: { ':pk': `APP#${credentials.appId}` },
      }),
    );
    const stored = JSON.stringify(Items);
    expect(stored).toContain('secretCiphertext');
    for (const s of [secret, rotated]) {
      expect(stored).not.toContain(s.slice('whsec_'.length, -4));
    }
  });

  it.each([
    [{ kind: 'webhook', url: 'http://hooks.example.com/x' }, 'url', /https/],
    [{ kind: 'webhook', url: 'https://10.1.2.3/hook' }, 'url', /private/],
    [{ kind: 'webhook', url: 'https://169.254.169.254/latest' }, 'url', /metadata|link-local/],
    [{ kind: 'webhook', url: 'not a url' }, 'url', /URL/i],
    [{ kind: 'webhook', url: 'https://example.com/x', batchSize: 0 }, 'batchSize', /1/],
    [{ kind: 'webhook', url: 'https://example.com/x', batchSize: 101 }, 'batchSize', /100/],
    [
      { kind: 'webhook', url: 'https://example.com/x', ratePerSecond: 10_001 },
      'ratePerSecond',
      /10000|10,000/,
    ],
    [{ kind: 'sms' }, 'kind', /webhook|default/],
  ])('refuses %j with a 400 naming %s', async (body, field, message) => {
    const { api } = await app('dst');
    const res = await api.put('/api/destination', body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_BAD_REQUEST');
    expect(JSON.stringify(res.body.error)).toContain(field);
    expect(res.body.error.message).toMatch(message);
    expect((await api.get('/api/destination')).body.data.kind).toBe('default');
  });

  it('rotates only a webhook secret, answering a new one once', async () => {
    const { api } = await app('dst');
    const refused = await api.post('/api/destination/rotate-secret');
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/PUT \/api\/destination/);
    const hook = await receiver();
    const first: string = (await api.put('/api/destination', { kind: 'webhook', url: hook.url })).body.data
      .signingSecret;
    const rotated = await api.post('/api/destination/rotate-secret');
    expect(rotated.status).toBe(200);
    expect(rotated.body.data.signingSecret).toMatch(/^whsec_/);
    expect(rotated.body.data.signingSecret).not.toBe(first);
    expect((await api.get('/api/destination')).body.data.secretHint).toBe(
      rotated.body.data.signingSecret.slice(-4),
    );
  });
});

describe('POST /api/destination/test', () => {
  it('sends one signed test event and answers the far side status', async () => {
    const { api, credentials } = await app('dst');
    const hook = await receiver();
    const secret: string = (await api.put('/api/destination', { kind: 'webhook', url: hook.url })).body.data
      .signingSecret;
    const res = await api.post('/api/destination/test');
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ status: 204, ok: true, latencyMs: expect.any(Number) });
    expect(hook.requests).toHaveLength(1);
    expect(hook.requests[0]?.json).toMatchObject({ type: 'test', appId: credentials.appId });
    expect(verifies(hook.requests[0] as ReceivedRequest, secret)).toBe(true);

    hook.answer(() => ({ status: 503 }));
    expect((await api.post('/api/destination/test')).body.data).toMatchObject({ status: 503, ok: false });
  });

  it('answers clearly, not with a 500, when the receiver is down', async () => {
    const { api } = await app('dst');
    const hook = await receiver();
    await api.put('/api/destination', { kind: 'webhook', url: hook.url });
    await hook.close();
    const res = await api.post('/api/destination/test');
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ status: null, ok: false });
    expect(res.body.data.error).toMatch(/ECONNREFUSED|refused/i);
  });

  it('is a 409 for an app on the default destination', async () => {
    const { api } = await app('dst');
    const res = await api.post('/api/destination/test');
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/PUT \/api\/destination/);
  });
});

describe('delivery to each app its own webhook', () => {
  it('gives two apps with the same user ids each exactly their own recipients, signed with their own secret', async () => {
    const apps = [await app('twin-a'), await app('twin-b')];
    const hooks = [await receiver(), await receiver()];
    const secrets: string[] = [];
    const campaigns: string[] = [];
    for (const [i, owner] of apps.entries()) {
      const put = await owner.api.put('/api/destination', {
        kind: 'webhook',
        url: hooks[i]?.url,
        batchSize: 10,
      });
      secrets.push(put.body.data.signingSecret);
      campaigns.push(await campaignOf(owner, 30));
    }
    for (const [i, owner] of apps.entries()) {
      expect((await owner.api.post(`/api/campaigns/${campaigns[i]}/send`)).status).toBe(202);
    }
    for (const [i, owner] of apps.entries()) {
      const done = await finished(owner.api, campaigns[i] as string);
      expect(done.counts).toEqual({ pending: 0, queued: 0, sent: 30, failed: 0, skipped: 0 });
    }
    const expected = numberedRecipients(30)
      .map((r) => r.userId)
      .sort();
    for (const [i, hook] of hooks.entries()) {
      const own = apps[i]?.credentials.appId;
      expect(userIdsOf(hook.requests)).toEqual(expected);
      for (const request of hook.requests) {
        expect(request.json).toMatchObject({
          type: 'campaign.messages',
          appId: own,
          campaignId: campaigns[i],
        });
        expect(request.json.messages.length).toBeLessThanOrEqual(10);
        expect(verifies(request, secrets[i] as string)).toBe(true);
        expect(verifies(request, secrets[1 - i] as string)).toBe(false);
      }
    }
  });

  it('fails exactly the recipients the receiver rejects in results, with its reason', async () => {
    const owner = await app('rej');
    const hook = await receiver();
    await owner.api.put('/api/destination', { kind: 'webhook', url: hook.url, batchSize: 10 });
    hook.answer((request) => ({
      status: 200,
      body: {
        results: request.json.messages.map((m) =>
          Number(m.userId.slice(1)) % 3 === 0
            ? { idempotencyKey: m.idempotencyKey, status: 'rejected', reason: 'no device for this user' }
            : { idempotencyKey: m.idempotencyKey, status: 'accepted' },
        ),
      },
    }));
    const id = await campaignOf(owner, 30);
    await owner.api.post(`/api/campaigns/${id}/send`);
    const done = await finished(owner.api, id);
    expect(done.status).toBe('partially_failed');
    expect(done.counts).toEqual({ pending: 0, queued: 0, sent: 20, failed: 10, skipped: 0 });
    const { byUser } = await storedRecipients(owner.credentials.appId, id);
    for (let i = 0; i < 30; i += 1) {
      const item = byUser.get(`u${i}`);
      if (i % 3 === 0) {
        expect(item).toMatchObject({
          status: 'failed',
          error: 'webhook rejected the message: no device for this user',
        });
      } else {
        expect(item?.status).toBe('sent');
      }
    }
  });

  it('waits at least the Retry-After a 429 asks for before trying again', async () => {
    const owner = await app('429');
    const hook = await receiver();
    await owner.api.put('/api/destination', { kind: 'webhook', url: hook.url });
    hook.answer((request) =>
      request.n === 1 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 204 },
    );
    const id = await campaignOf(owner, 5);
    await owner.api.post(`/api/campaigns/${id}/send`);
    const done = await finished(owner.api, id);
    expect(done.counts.sent).toBe(5);
    // Recipients fall in several shards, so several requests: the refused one came back once.
    const [first] = hook.requests as [ReceivedRequest];
    const sameBatch = hook.requests.filter((r) => r.headers['webhook-id'] === first.headers['webhook-id']);
    expect(sameBatch).toHaveLength(2);
    const [, retry] = sameBatch as [ReceivedRequest, ReceivedRequest];
    expect(retry.at - first.at).toBeGreaterThanOrEqual(2_000);
    expect(userIdsOf(hook.requests.filter((r) => r !== first))).toEqual(
      numberedRecipients(5)
        .map((r) => r.userId)
        .sort(),
    );
  });

  it('delivers a one-call send through the same destination', async () => {
    const owner = await app('ntf');
    const hook = await receiver();
    const secret: string = (await owner.api.put('/api/destination', { kind: 'webhook', url: hook.url })).body
      .data.signingSecret;
    const res = await owner.api.post('/api/notifications/send', {
      template: { id: owner.templateId, variables: { name: 'there' } },
      targets: ['ada', 'bob'],
    });
    expect(res.status).toBe(202);
    await expect.poll(() => userIdsOf(hook.requests), { timeout: 30_000 }).toEqual(['ada', 'bob']);
    for (const request of hook.requests) {
      expect(request.json).toMatchObject({
        appId: owner.credentials.appId,
        campaignId: res.body.data.notificationId,
      });
      expect(verifies(request, secret)).toBe(true);
    }
  });
});
