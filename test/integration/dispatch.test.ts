import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { sendCampaignFunction } from '#test/support/functions.ts';
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

/** Takes every message off the queue: the chunk size and recipients of each. */
async function drainQueue(): Promise<{ chunkSize?: number; recipients: { userId: string }[] }[]> {
  const sqs = new SQSClient({});
  const QueueUrl = process.env.DELIVERY_QUEUE_URL as string;
  const bodies: { chunkSize?: number; recipients: { userId: string }[] }[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    if (Messages.length === 0) return bodies;
    for (const m of Messages) bodies.push(JSON.parse(m.Body ?? '{}'));
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl,
        Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
      }),
    );
  }
}

describe("a campaign's chunk size", () => {
  it("is its app's destination batch size at the first dispatch, and stays so for a resend", async () => {
    const credentials = await newApp('chunks');
    const api = apiClient(runtime.current.url, credentials);
    const template = await api.post('/api/templates', { name: 'T', body: 'Hi', variableSchema: {} });
    await api.put(`/api/templates/${template.body.data.id}`, { status: 'approved' });
    const { id } = (await api.post('/api/campaigns', { name: 'C', templateId: template.body.data.id })).body
      .data;
    await addRecipients(credentials.appId, id, numberedRecipients(120));
    // Nothing listens there: this runtime has no consumer.
    await api.put('/api/destination', { kind: 'webhook', url: 'http://127.0.0.1:9/hook', batchSize: 7 });
    await drainQueue();

    expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
    await expect
      .poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data.counts.queued, { timeout: 30_000 })
      .toBe(120);
    await runtime.current.idle();
    const first = await drainQueue();
    expect(first.flatMap((m) => m.recipients)).toHaveLength(120);
    expect(new Set(first.map((m) => m.chunkSize))).toEqual(new Set([7]));

    // The destination changes, then a crash is replayed: shard 0's checkpoint never committed.
    await api.put('/api/destination', { kind: 'webhook', url: 'http://127.0.0.1:9/hook', batchSize: 50 });
    const { client: documents, tableName } = runtime.current.table;
    await documents.send(
      new DeleteCommand({
        TableName: tableName,
        Key: { pk: `APP#${credentials.appId}`, sk: `DISPATCH#${id}#0` },
      }),
    );
    const { sendCampaign } = await sendCampaignFunction();
    const resent = await sendCampaign(credentials.appId, id);
    expect(resent.enqueuedRecipients).toBeGreaterThan(0);
    const again = await drainQueue();
    expect(again.flatMap((m) => m.recipients)).toHaveLength(resent.enqueuedRecipients);
    expect(new Set(again.map((m) => m.chunkSize))).toEqual(new Set([7]));
  });
});
