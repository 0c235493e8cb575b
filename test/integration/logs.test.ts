/**
 * No secret and no personal data in the logs. Everything the process writes to stdout
 * and stderr (the Powertools logger writes there) and every console call is captured
 * through a whole flow at log level DEBUG, with event logging on
 * (POWERTOOLS_LOGGER_LOG_EVENT): failed authentications, a template, a CSV
 * upload whose user ids and variable values carry markers (with rejected rows), a send
 * delivered to the outbox and a webhook that fails once transiently, once permanently
 * and echoes what it was sent, a one-call send, and an app's own webhook (its signing
 * secret created, rotated, used by a test send and a delivery). No API key, signing secret
 * (answered or encrypted), webhook secret, user
 * id, variable value or CSV content may appear in a captured line; and the capture
 * must hold the handlers' own lines, so the test cannot pass on an empty capture.
 * Metrics are on, so their EMF documents are checked too, and with them the shared
 * stack's cold start and Lambda context.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { createOutboxChannel } from '#shared/adapters/outbox-channel.ts';
import { createWebhookChannel } from '#shared/adapters/webhook-channel.ts';
import { createDestinationsStore } from '#shared/store/destinations.ts';
import { deliverBatchFunction } from '#test/support/functions.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';

/** Every marker holds this; ids and keys the system makes are lower case and never do. */
const MARK = 'Q7F3AX';
// A Standard Webhooks secret (`whsec_` and base64) that holds the marker.
const WEBHOOK_SECRET = `whsec_${MARK}${'k'.repeat(34)}`;
const transientUser = `${MARK}-user-transient`;
const permanentUser = `${MARK}-user-permanent`;

// A webhook that echoes what it was sent, as many do in their error answers.
const seen = new Map<string, number>();
const webhook = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => {
    body += chunk;
  });
  req.on('end', () => {
    // A destination's test event has no messages.
    const userIds = ((JSON.parse(body) as { messages?: { userId: string }[] }).messages ?? []).map(
      (m) => m.userId,
    );
    const counts = userIds.map((userId) => {
      const count = (seen.get(userId) ?? 0) + 1;
      seen.set(userId, count);
      return count;
    });
    // These four user ids fall in four different shards, so each is a chunk, and a request, of its own.
    if (userIds.includes(permanentUser)) {
      res.writeHead(422, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'recipient unknown', received: JSON.parse(body) }));
    } else if (userIds.some((userId, i) => userId === transientUser && (counts[i] ?? 0) <= 2)) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end(`overloaded, try again: ${body}`);
    } else {
      res.writeHead(204);
      res.end();
    }
  });
});
await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
const webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`;
const outboxPath = join(tmpdir(), `logs-test-outbox-${process.pid}-${Date.now()}.jsonl`);

const runtime = useRuntime({
  env: {
    POWERTOOLS_LOG_LEVEL: 'DEBUG',
    // An operator debugging might turn on event logging: the API's events carry the apiKey header.
    POWERTOOLS_LOGGER_LOG_EVENT: 'true',
    // Metrics on, as deployed: their EMF documents go through the same check, and the cold start is seen.
    POWERTOOLS_METRICS_DISABLED: 'false',
    OUTBOX_PATH: outboxPath,
    DELIVERY_RETRY_BASE_SECONDS: '0',
  },
  // The real consumer, delivering to the webhook and then to the outbox.
  loadDeliverHandler: async () => {
    const { createDeliverHandler } = await deliverBatchFunction();
    const outbox = createOutboxChannel({ path: outboxPath });
    const hook = createWebhookChannel({
      url: webhookUrl,
      secrets: [WEBHOOK_SECRET],
      maxAttempts: 2,
      baseDelayMs: 0,
      maxDelayMs: 0,
    });
    return createDeliverHandler({
      channel: {
        name: 'webhook+outbox',
        maxBatchSize: 100,
        async deliverBatch(batch) {
          const results = await hook.deliverBatch(batch);
          const accepted = batch.messages.filter((_, i) => results[i]?.status === 'accepted');
          if (accepted.length > 0) await outbox.deliverBatch({ ...batch, messages: accepted });
          return results;
        },
      },
    });
  },
});

afterAll(async () => {
  await new Promise((resolve) => webhook.close(resolve));
});

/** Captures process.stdout/stderr writes and console calls until `stop`. */
function capture() {
  const lines: string[] = [];
  const out = process.stdout.write;
  const err = process.stderr.write;
  const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;
  const saved = methods.map((m) => console[m]);
  const record = (chunk: unknown) => {
    lines.push(
      ...String(chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : chunk).split('\n'),
    );
  };
  process.stdout.write = ((chunk: unknown, ...rest: never[]) => {
    record(chunk);
    return out.call(process.stdout, chunk as string, ...rest);
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: unknown, ...rest: never[]) => {
    record(chunk);
    return err.call(process.stderr, chunk as string, ...rest);
  }) as typeof process.stderr.write;
  methods.forEach((m, i) => {
    console[m] = (...args: unknown[]) => {
      record(args.map((a) => (typeof a === 'string' ? a : (JSON.stringify(a) ?? String(a)))).join(' '));
      (saved[i] as (...a: unknown[]) => void)(...args);
    };
  });
  return {
    lines: () => lines.filter((l) => l.trim() !== ''),
    stop() {
      process.stdout.write = out;
      process.stderr.write = err;
      methods.forEach((m, i) => {
        console[m] = saved[i] as never;
      });
    },
  };
}

describe('logs', () => {
  it('hold no API key, webhook secret, user id, variable value or CSV content through a whole flow', async () => {
    const captured = capture();
    let apiKey = '';
    const csvRows: string[] = [];
    // An app's signing secrets as answered, and as stored (encrypted).
    const signing: string[] = [];
    try {
      const creds = await newApp('logs');
      apiKey = creds.apiKey;
      const api = apiClient(runtime.current.url, creds);

      // Failed authentications: a wrong key and a key with no app id.
      const wrongKey = `ck_${MARK}wrongkeywrongkeywrongkeywrongkeywrongk`;
      const denied = apiClient(runtime.current.url, { appId: creds.appId, apiKey: wrongKey });
      expect((await denied.get('/api/campaigns')).status).toBe(401);
      const headerOnly = await apiClient(runtime.current.url).request('GET', '/api/templates', {
        headers: { apiKey: creds.apiKey },
      });
      expect(headerOnly.status).toBe(401);

      const template = await api.post('/api/templates', {
        name: 'greeting',
        title: 'Hi {{name}}',
        body: 'Your code is {{code}}',
        variableSchema: {
          name: { type: 'string', required: true, maxLength: 40 },
          code: { type: 'string', required: true },
        },
      });
      expect(template.status).toBe(201);
      const templateId = template.body.data.id;
      expect((await api.put(`/api/templates/${templateId}`, { status: 'approved' })).status).toBe(200);
      const campaign = await api.post('/api/campaigns', { name: 'logs', templateId });
      const campaignId = campaign.body.data.id;

      // A header-level refusal that names a column carrying a marker.
      const badHeader = new FormData();
      badHeader.set('campaignId', campaignId);
      badHeader.set('file', new Blob([`user_id,name,code,${MARK}_column\nu1,a,b,c\n`]), 'a.csv');
      expect((await api.request('POST', '/api/campaigns/upload', { body: badHeader })).status).toBe(400);

      csvRows.push(
        'user_id,name,code',
        `${MARK}-user-1,${MARK}-Name-One,${MARK}-code-1`,
        `${MARK}-user-2,"${MARK} Name, Two",${MARK}-code-2`,
        `${transientUser},${MARK}-Name-T,${MARK}-code-t`,
        `${permanentUser},${MARK}-Name-P,${MARK}-code-p`,
        // Rejected: a name over its maxLength, a row with too many fields, an invalid user id.
        `${MARK}-user-long,${MARK}-${'x'.repeat(50)},${MARK}-code-l`,
        `${MARK}-user-wide,${MARK}-Name-W,${MARK}-code-w,${MARK}-extra`,
        `${MARK} bad id!,${MARK}-Name-B,${MARK}-code-b`,
      );
      const form = new FormData();
      form.set('campaignId', campaignId);
      form.set('file', new Blob([`${csvRows.join('\n')}\n`]), `${MARK}-audience.csv`);
      const upload = await api.request<any>('POST', '/api/campaigns/upload', { body: form });
      expect(upload.status).toBe(200);
      expect(upload.body.data).toMatchObject({ uploaded: 4, rejected: 3 });

      expect((await api.post(`/api/campaigns/${campaignId}/send`)).status).toBe(202);
      await expect
        .poll(async () => (await api.get(`/api/campaigns/${campaignId}`)).body.data.status, {
          timeout: 60_000,
          interval: 250,
        })
        .toBe('partially_failed');
      const recipients = (await api.get(`/api/campaigns/${campaignId}/recipients?limit=100`)).body.data;
      const failed = recipients.find((r: { userId: string }) => r.userId === permanentUser);
      expect(failed.status).toBe('failed');
      // The app's owner may read the webhook's answer on its recipient; the logs may not.
      expect(failed.error).toContain('422');
      expect(seen.get(transientUser)).toBe(3);

      // Messages the consumer cannot read, carrying user data: not JSON, and JSON of the wrong shape.
      const sqs = new SQSClient({});
      for (const body of [
        `${MARK}-user-garbled`,
        JSON.stringify({ kind: 'campaign', recipients: [{ userId: `${MARK}-user-shape`, variables: 7 }] }),
      ]) {
        await sqs.send(
          new SendMessageCommand({ QueueUrl: process.env.DELIVERY_QUEUE_URL, MessageBody: body }),
        );
      }
      sqs.destroy();
      await expect
        .poll(() => captured.lines().filter((l) => l.includes('deliver: unreadable message')).length, {
          timeout: 30_000,
        })
        .toBeGreaterThanOrEqual(2);

      // A one-call send with markers in its targets and variables.
      const inline = await api.post('/api/notifications/send', {
        template: { id: templateId, variables: { code: `${MARK}-shared-code` } },
        targets: [`${MARK}-inline-user`],
        variables: { [`${MARK}-inline-user`]: { name: `${MARK}-Inline-Name` } },
      });
      expect(inline.status).toBe(202);
      await expect.poll(() => seen.get(`${MARK}-inline-user`) ?? 0, { timeout: 30_000 }).toBe(1);

      // An app with its own webhook: its secret created, rotated, used by a test send and a delivery.
      const owner = await newApp('logs-dst');
      const dst = apiClient(runtime.current.url, owner);
      const put = await dst.put('/api/destination', { kind: 'webhook', url: webhookUrl });
      signing.push(put.body.data.signingSecret);
      const rotated = await dst.post('/api/destination/rotate-secret');
      signing.push(rotated.body.data.signingSecret);
      expect((await dst.post('/api/destination/test')).body.data.ok).toBe(true);
      const ownTemplate = await dst.post('/api/templates', { name: 't', body: 'Hello', variableSchema: {} });
      await dst.put(`/api/templates/${ownTemplate.body.data.id}`, { status: 'approved' });
      const own = await dst.post('/api/notifications/send', {
        template: { id: ownTemplate.body.data.id },
        targets: [`${MARK}-dst-user`],
      });
      expect(own.status).toBe(202);
      await expect.poll(() => seen.get(`${MARK}-dst-user`) ?? 0, { timeout: 30_000 }).toBe(1);
      const { readDestination } = createDestinationsStore(runtime.current.table);
      const stored = await readDestination(owner.appId);
      expect(stored?.secretCiphertext).toEqual(expect.any(String));
      expect(stored?.previousSecretCiphertext).toEqual(expect.any(String));
      signing.push(stored?.secretCiphertext as string, stored?.previousSecretCiphertext as string);
      await runtime.current.idle();
    } finally {
      captured.stop();
    }

    const lines = captured.lines();
    // Not vacuous: the handlers' DEBUG-level lines, the consumer's warning and the error
    // answers were all captured.
    expect(lines.some((l) => l.includes('"message":"import completed"'))).toBe(true);
    expect(lines.some((l) => l.includes('"message":"send: done"'))).toBe(true);
    expect(lines.some((l) => l.includes('"message":"deliver: some chunks will be tried again"'))).toBe(true);

    // The shared stack's EMF documents: one ColdStart for the process, named after its first
    // invocation (the refused GET /api/campaigns), and each invocation's own metrics.
    const emf = lines.filter((l) => l.startsWith('{"_aws"')).map((l) => JSON.parse(l));
    const metricNames = (doc: any): string[] =>
      doc._aws.CloudWatchMetrics.flatMap((m: any) => m.Metrics.map((x: any) => x.Name));
    const coldStarts = emf.filter((doc) => metricNames(doc).includes('ColdStart'));
    expect(coldStarts).toHaveLength(1);
    expect(coldStarts[0]).toMatchObject({ function_name: 'campaigns-api', ColdStart: 1 });
    expect(emf.some((doc) => metricNames(doc).includes('rowsImported'))).toBe(true);
    expect(emf.some((doc) => metricNames(doc).includes('recipientsEnqueued'))).toBe(true);

    // The importer's line carries its own Lambda context. It is written while no other
    // invocation starts (the direct upload waits for it): here every function shares one
    // process and one logger, so a line written after another invocation started carries
    // that one's context (see shared/lambda.ts).
    const logLines = lines.filter((l) => l.startsWith('{"level"')).map((l) => JSON.parse(l));
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    const imported = logLines.find((l) => l.message === 'import completed');
    expect(imported).toMatchObject({
      function_name: 'importCsv',
      function_request_id: expect.stringMatching(uuid),
    });

    // Tracing is off here: no X-Ray SDK complaint about a missing segment or daemon.
    expect(lines.filter((l) => /x-?ray|sub\/segment/i.test(l))).toEqual([]);

    expect(signing).toHaveLength(4);
    // Each secret whole, and its key without the `whsec_` prefix.
    const signingParts = signing.flatMap((s) => [s, s.replace(/^whsec_/, '')]);
    const secrets = [apiKey, WEBHOOK_SECRET, MARK, ...signingParts, ...csvRows.slice(1)];
    const leaks = lines.filter((line) => secrets.some((s) => line.includes(s)));
    expect(leaks, `lines with a secret or personal data:\n${leaks.join('\n')}`).toEqual([]);
  }, 110_000);
});
