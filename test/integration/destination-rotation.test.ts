/**
 * A signing secret rotated in the middle of a send. One recipient shard and one poller,
 * so the campaign is one delivery message whose 20 chunks go out one after the other:
 * the receiver holds the third request while the secret is rotated, so requests 1-3 are
 * certainly signed before the rotation and 4-20 after it. A receiver still on the old
 * secret accepts every request; one already on the new secret accepts every request sent
 * after the rotation. Verified with the `standardwebhooks` package's own `Webhook.verify`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { addRecipients, numberedRecipients } from '#test/support/recipients.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { startWebhookReceiver, verifies, type WebhookReceiver } from '#test/support/webhook-receiver.ts';

const runtime = useRuntime({
  deliveryConcurrency: 1,
  env: { RECIPIENT_SHARDS: '1', DESTINATION_CACHE_MS: '0', DELIVERY_RETRY_BASE_SECONDS: '0' },
});

let hook: WebhookReceiver | undefined;
afterAll(() => hook?.close());

describe('a rotation in the middle of a send', () => {
  it('is signed with the old and the new secret from the rotation on, and with the old one before', async () => {
    const credentials = await newApp('rot');
    const api = apiClient(runtime.current.url, credentials);
    const template = await api.post('/api/templates', {
      name: 'Greeting',
      body: 'Hi {{name}}.',
      variableSchema: { name: { type: 'string', required: true } },
    });
    await api.put(`/api/templates/${template.body.data.id}`, { status: 'approved' });
    const { id } = (await api.post('/api/campaigns', { name: 'C', templateId: template.body.data.id })).body
      .data;
    await addRecipients(credentials.appId, id, numberedRecipients(100));
    hook = await startWebhookReceiver();
    const old: string = (await api.put('/api/destination', { kind: 'webhook', url: hook.url, batchSize: 5 }))
      .body.data.signingSecret;

    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    hook.answer(async (request) => {
      if (request.n === 3) await held;
      return { status: 204 };
    });
    expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
    await expect.poll(() => hook?.requests.length, { timeout: 30_000 }).toBe(3);
    const fresh: string = (await api.post('/api/destination/rotate-secret')).body.data.signingSecret;
    release();

    await expect
      .poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data.status, { timeout: 60_000 })
      .toBe('sent');
    const requests = hook.requests;
    expect(requests).toHaveLength(20);
    expect(requests.flatMap((r) => r.json.messages.map((m) => m.userId)).sort()).toEqual(
      numberedRecipients(100)
        .map((r) => r.userId)
        .sort(),
    );
    for (const request of requests) {
      const label = `request ${request.n}`;
      // The old secret verifies everything during the window…
      expect(verifies(request, old), label).toBe(true);
      // …the new one everything sent after the rotation, which carries both signatures.
      expect(verifies(request, fresh), label).toBe(request.n > 3);
      expect(request.headers['webhook-signature']?.split(' '), label).toHaveLength(request.n > 3 ? 2 : 1);
    }
  });
});
