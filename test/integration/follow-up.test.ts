/**
 * `POST /api/campaigns/{id}/follow-up` end to end (docs/api.md, Follow-up): a campaign
 * ended `partially_failed` by a webhook that rejects some users, its follow-up holding
 * exactly those users with their variables, and sending it reaching only them; the
 * refusals; the Idempotency-Key; and exactness on 100,000 recipients.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { createRecipientsStore } from '#shared/store/recipients.ts';
import { addRecipients, numberedRecipients, storedRecipients } from '#test/support/recipients.ts';
import { apiClient, type Credentials, newApp, useRuntime } from '#test/support/runtime.ts';
import {
  type ReceivedRequest,
  startWebhookReceiver,
  type WebhookReceiver,
} from '#test/support/webhook-receiver.ts';

const runtime = useRuntime({
  env: { DESTINATION_CACHE_MS: '0', DELIVERY_RETRY_BASE_SECONDS: '0', WEBHOOK_BASE_DELAY_MS: '10' },
});

type Api = ReturnType<typeof apiClient>;
const receivers: WebhookReceiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});

async function app(): Promise<{ api: Api; credentials: Credentials; templateId: string }> {
  const credentials = await newApp('fup');
  const api = apiClient(runtime.current.url, credentials);
  const template = await api.post('/api/templates', {
    name: 'Greeting',
    body: 'Hi {{name}}.',
    variableSchema: { name: { type: 'string', required: true, maxLength: 100 } },
  });
  await api.put(`/api/templates/${template.body.data.id}`, { status: 'approved' });
  return { api, credentials, templateId: template.body.data.id };
}

async function settled(api: Api, id: string) {
  await expect
    .poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data.status, {
      timeout: 60_000,
      interval: 200,
    })
    .not.toMatch(/^(draft|sending|scheduled)$/);
  return (await api.get(`/api/campaigns/${id}`)).body.data;
}

async function copied(api: Api, id: string, timeout = 60_000) {
  await expect
    .poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data.copying, { timeout, interval: 500 })
    .toBe(false);
  return (await api.get(`/api/campaigns/${id}`)).body.data;
}

const userIdsOf = (requests: readonly ReceivedRequest[], campaignId: string) =>
  requests
    .filter((r) => r.json.campaignId === campaignId)
    .flatMap((r) => r.json.messages.map((m) => m.userId))
    .sort();

/** A campaign of 30 recipients `u0…u29` sent to a webhook that rejects every third one: partially_failed. */
async function partiallyFailed() {
  const owner = await app();
  const hook = await startWebhookReceiver();
  receivers.push(hook);
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
  const id: string = (await owner.api.post('/api/campaigns', { name: 'C', templateId: owner.templateId }))
    .body.data.id;
  await addRecipients(owner.credentials.appId, id, numberedRecipients(30));
  await owner.api.post(`/api/campaigns/${id}/send`);
  const done = await settled(owner.api, id);
  expect(done.status).toBe('partially_failed');
  return { ...owner, hook, sourceId: id };
}

const rejected = Array.from({ length: 10 }, (_, i) => `u${i * 3}`).sort();

describe('POST /api/campaigns/{id}/follow-up', () => {
  it('copies exactly the failed recipients with their variables, and sending it reaches only them, once', async () => {
    const { api, hook, sourceId, templateId } = await partiallyFailed();
    const res = await api.post(`/api/campaigns/${sourceId}/follow-up`, {
      name: 'Retry',
      statuses: ['failed'],
    });
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({
      name: 'Retry',
      status: 'draft',
      templateId,
      followUpOf: sourceId,
      followUpStatuses: ['failed'],
    });
    const id: string = res.body.data.id;
    expect(id).not.toBe(sourceId);

    const filled = await copied(api, id);
    expect(filled).toMatchObject({
      status: 'draft',
      followUpOf: sourceId,
      recipientCount: 10,
      counts: { pending: 10, queued: 0, sent: 0, failed: 0, skipped: 0 },
    });
    const listed = (await api.get(`/api/campaigns/${id}/recipients?limit=100`)).body.data;
    expect(
      listed
        .map((r: { userId: string; status: string; variables: unknown }) => [r.userId, r.status, r.variables])
        .sort(),
    ).toEqual(rejected.map((u) => [u, 'pending', { name: `Name ${u.slice(1)}` }]).sort());

    hook.answer(() => ({ status: 204 }));
    expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
    const done = await settled(api, id);
    expect(done.status).toBe('sent');
    expect(done.counts).toEqual({ pending: 0, queued: 0, sent: 10, failed: 0, skipped: 0 });
    expect(userIdsOf(hook.requests, id)).toEqual(rejected);
    const bodies = hook.requests
      .filter((r) => r.json.campaignId === id)
      .flatMap((r) => r.json.messages.map((m) => `${m.userId}:${m.body}`))
      .sort();
    expect(bodies).toEqual(rejected.map((u) => `${u}:Hi Name ${u.slice(1)}.`).sort());
    // The source is as it was.
    expect((await api.get(`/api/campaigns/${sourceId}`)).body.data.counts).toEqual({
      pending: 0,
      queued: 0,
      sent: 20,
      failed: 10,
      skipped: 0,
    });
  });

  it('answers a retry with the same Idempotency-Key with the same campaign, and a new key with a new one', async () => {
    const { api, sourceId } = await partiallyFailed();
    const post = (key: string) =>
      api.request<any>('POST', `/api/campaigns/${sourceId}/follow-up`, {
        json: { name: 'Retry', statuses: ['failed'] },
        headers: { 'Idempotency-Key': key },
      });
    const first = await post('retry-1');
    const again = await post('retry-1');
    const other = await post('retry-2');
    expect([first.status, again.status, other.status]).toEqual([201, 201, 201]);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(other.body.data.id).not.toBe(first.body.data.id);
    const changed = await api.request<any>('POST', `/api/campaigns/${sourceId}/follow-up`, {
      json: { name: 'Retry', statuses: ['failed', 'skipped'] },
      headers: { 'Idempotency-Key': 'retry-1' },
    });
    expect(changed.status).toBe(422);
    expect(changed.body.error.code).toBe('ERR_IDEMPOTENCY_KEY_REUSED');
    const followUps = (await api.get('/api/campaigns?limit=100')).body.data.filter(
      (c: { followUpOf?: string }) => c.followUpOf === sourceId,
    );
    expect(followUps.map((c: { id: string }) => c.id).sort()).toEqual(
      [first.body.data.id, other.body.data.id].sort(),
    );
    expect((await copied(api, first.body.data.id)).recipientCount).toBe(10);
  });

  it('refuses a template whose required variables the recipients lack, naming users and variables', async () => {
    const { api, sourceId } = await partiallyFailed();
    const other = await api.post('/api/templates', {
      name: 'Parcel',
      body: 'Hi {{name}}, your parcel is in {{city}}.',
      variableSchema: { name: { type: 'string', required: true }, city: { type: 'string', required: true } },
    });
    const otherId: string = other.body.data.id;
    await api.put(`/api/templates/${otherId}`, { status: 'approved' });
    const res = await api.post(`/api/campaigns/${sourceId}/follow-up`, {
      name: 'Retry',
      statuses: ['failed'],
      templateId: otherId,
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_INVALID_VARIABLES');
    expect(res.body.error.details.total).toBe(10);
    expect(
      res.body.error.details.problems.map((p: { userId: string; key: string }) => `${p.userId}/${p.key}`),
    ).toEqual(rejected.map((u) => `${u}/city`));
    expect(res.body.error.message).toMatch(/user 'u0': 'city' is required by the template and has no value/);
    // One that needs only what they have is fine.
    const fits = await api.post('/api/templates', {
      name: 'Short',
      body: 'Hey {{name}}',
      variableSchema: { name: { type: 'string', required: true } },
    });
    await api.put(`/api/templates/${fits.body.data.id}`, { status: 'approved' });
    const ok = await api.post(`/api/campaigns/${sourceId}/follow-up`, {
      name: 'Retry',
      statuses: ['failed'],
      templateId: fits.body.data.id,
    });
    expect(ok.status).toBe(201);
    expect(ok.body.data.templateId).toBe(fits.body.data.id);
  });

  it('answers 409 for a source that has not finished, and for sending a follow-up still copying', async () => {
    const { api, credentials, templateId } = await app();
    const id: string = (await api.post('/api/campaigns', { name: 'C', templateId })).body.data.id;
    await addRecipients(credentials.appId, id, numberedRecipients(3));
    const res = await api.post(`/api/campaigns/${id}/follow-up`, { name: 'Retry', statuses: ['failed'] });
    expect(res.status).toBe(409);
    expect(res.body.error.details).toEqual({ campaignId: id, status: 'draft' });
    expect(res.body.error.message).toMatch(/draft; a follow-up is made from a finished campaign/);

    // A follow-up draft whose copy has not completed (its lock, as the follow-up API sets it).
    const { client: documents, tableName } = runtime.current.table;
    await documents.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: `APP#${credentials.appId}`, sk: `CAMPAIGN#${id}` },
        UpdateExpression: 'SET importingUploadId = :lock, followUpOf = :source',
        ExpressionAttributeValues: { ':lock': `followup:${id}`, ':source': 'cmp_source' },
      }),
    );
    expect((await api.get(`/api/campaigns/${id}`)).body.data.copying).toBe(true);
    const send = await api.post(`/api/campaigns/${id}/send`);
    expect(send.status).toBe(409);
    expect(send.body.error.message).toMatch(/follow-up whose recipients are still being copied/);
    expect((await api.get(`/api/campaigns/${id}`)).body.data.status).toBe('draft');
  });

  it.each([
    [{ name: 'R', statuses: [] }, /statuses: give at least one recipient status/],
    [
      { name: 'R', statuses: ['sent'] },
      /statuses: 'sent' recipients were delivered and are never in a follow-up/,
    ],
    [{ name: 'R', statuses: ['failed', 'lost'] }, /statuses: 'lost' is not a status a follow-up copies/],
    [{ statuses: ['failed'] }, /name/],
    [{ name: 'R', statuses: ['failed'], recipients: ['u1'] }, /recipients: unknown field/],
  ])('answers 400 for %j, naming the field', async (body, message) => {
    const { api, sourceId } = await partiallyFailedOnce();
    const res = await api.post(`/api/campaigns/${sourceId}/follow-up`, body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_BAD_REQUEST');
    expect(res.body.error.message).toMatch(message);
  });
});

let shared: Promise<Awaited<ReturnType<typeof partiallyFailed>>> | undefined;
/** One partially failed source for the 400 cases (their checks do not change it). */
function partiallyFailedOnce() {
  shared ??= partiallyFailed().then((source) => {
    // Its receiver outlives afterEach: the source is finished, nothing calls it again.
    receivers.splice(receivers.indexOf(source.hook), 1);
    return source;
  });
  return shared;
}

describe('a follow-up of 100,000 recipients', () => {
  it('copies exactly the failed and skipped ones, its counts equal to the source counts', async () => {
    const { api, credentials, templateId } = await app();
    const appId = credentials.appId;
    const sourceId: string = (await api.post('/api/campaigns', { name: 'Big', templateId })).body.data.id;
    const statusOf = (i: number) => (i % 10 === 0 ? 'failed' : i % 10 === 1 ? 'skipped' : 'sent');
    const total = 100_000;
    const started = Date.now();
    // The recipients as delivery leaves them (the store's own projection of outcomes), and the campaign finished.
    const { projectOutcomes } = createRecipientsStore(runtime.current.table);
    await projectOutcomes(
      appId,
      sourceId,
      'chunk-test',
      Array.from({ length: total }, (_, i) => ({
        userId: `u${i}`,
        variables: { name: `Name ${i}` },
        status: statusOf(i),
      })),
    );
    const { client: documents, tableName } = runtime.current.table;
    await documents.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: `APP#${appId}`, sk: `CAMPAIGN#${sourceId}` },
        UpdateExpression: 'SET #status = :s, gsi1pk = :g, recipientCount = :n, counts = :c',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':s': 'partially_failed',
          ':g': `APP#${appId}#CAMPAIGNS#partially_failed`,
          ':n': total,
          ':c': { pending: 0, queued: 0, sent: 80_000, failed: 10_000, skipped: 10_000 },
        },
      }),
    );
    const seeded = Date.now();
    console.info(`follow-up of 100,000: seeded in ${seeded - started} ms`);

    const res = await api.post(`/api/campaigns/${sourceId}/follow-up`, {
      name: 'Big retry',
      statuses: ['failed', 'skipped'],
    });
    expect(res.status).toBe(201);
    const id: string = res.body.data.id;
    const filled = await copied(api, id, 500_000);
    const copiedAt = Date.now();
    const source = (await api.get(`/api/campaigns/${sourceId}`)).body.data;
    expect(filled.recipientCount).toBe(source.counts.failed + source.counts.skipped);
    expect(filled.recipientCount).toBe(20_000);
    expect(filled.counts).toEqual({ pending: 20_000, queued: 0, sent: 0, failed: 0, skipped: 0 });

    const { byUser, items } = await storedRecipients(appId, id);
    expect(items).toBe(20_000);
    const expected = Array.from({ length: total }, (_, i) => i).filter((i) => statusOf(i) !== 'sent');
    const wrong = expected.filter((i) => {
      const item = byUser.get(`u${i}`);
      return item?.status !== 'pending' || item.variables.name !== `Name ${i}`;
    });
    expect(wrong).toEqual([]);
    console.info(
      `follow-up of 100,000: seeded in ${seeded - started} ms, 20,000 copied in ${copiedAt - seeded} ms`,
    );
  }, 600_000);
});
