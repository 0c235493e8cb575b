/**
 * Delivery throughput: the recipients of a `sending` campaign, already on the delivery
 * queue, taken off it by the consumers of the local runtime (the same SQS event source
 * and deliver function `npm start` runs, with the outbox channel) until every
 * recipient's status is stored. The target: at least half the rate of a bare loop that
 * does the same queue and table work, on the same emulators in the same run.
 *
 * 1. Two campaigns of `recipients` recipients each (template `Hello {{name}}`, one
 *    string variable) are stored; the first is put on the queue by the real send
 *    function (`sendCampaign`, untimed: 1,000 messages of 100 for 100,000).
 * 2. Ours, timed: from the start of the runtime's delivery pollers until the campaign's
 *    status is final (polled); then every recipient is read back by status and all must
 *    be `sent`.
 * 3. The bare loop, timed: the second campaign is put on the queue the same way (its
 *    bodies are the real ones), then as many pollers as ours receive 10 messages per
 *    `ReceiveMessage`, write one `sent` recipient item per recipient with
 *    `BatchWriteItem` (25 items per call, 8 calls in flight over all pollers), and
 *    delete the messages with `DeleteMessageBatch`.
 *
 * 4. The webhook channel, timed like ours: a third campaign of another app whose
 *    destination is a webhook on loopback (a `node:http` receiver in this process that
 *    reads each body, counts its messages and answers 204), batches of 100, signed.
 *    Its ratio is against the same bare loop; it is reported, not held to the target
 *    (the receiver shares the machine's cores with everything else).
 * 5. Pacing: a fourth campaign of an app whose webhook has `ratePerSecond`
 *    (`PACED_RATE`, 500/s; 30 s of recipients at most). The receiver notes each
 *    message's arrival; the achieved rate is the messages over the time from the first
 *    arrival to the last, against the configured rate: at least 0.9 of it, and never
 *    more than the rate plus the burst in any second.
 *
 * `node bench/deliver.ts [--recipients n]` prints the numbers; `npm run bench` runs it
 * as its `deliver` section.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import pLimit from 'p-limit';
import { startLocalRuntime } from '#infra/local/runtime.ts';
import { isFinalCampaignStatus } from '#shared/domain/campaign-status.ts';
import { retry } from '#shared/retry.ts';
import { storeBenchTemplate } from './fixtures.ts';

/** The delivery rate the consumers are held to, as a share of the bare loop's. */
export const DELIVER_TARGET_RATIO = 0.5;
/** The paced phase's configured rate (messages per second), and its share to reach. */
export const PACED_RATE = 500;
export const PACED_TARGET_RATIO = 0.9;
/** The paced phase delivers at most this many seconds of its rate. */
const PACED_SECONDS = 30;
/** BatchWriteItem calls in flight at once in the bare loop, over all its pollers. */
const BARE_WRITES_IN_FLIGHT = 8;
/**
 * Give up when a campaign's counters have not moved for this long (a stuck consumer):
 * longer than the longest retry backoff (15 minutes) plus a consumer's timeout.
 */
const STALL_MS = 20 * 60_000;

export interface DeliverBench {
  deliver: {
    recipients: number;
    messages: number;
    /** Pollers of the delivery queue, ours and the bare loop's. */
    pollers: number;
    seconds: number;
    recipientsPerSecond: number;
    bareSeconds: number;
    bareRecipientsPerSecond: number;
    /** recipientsPerSecond / bareRecipientsPerSecond: the target is at least `DELIVER_TARGET_RATIO`. */
    ratio: number;
    /** The same delivery through an app's signed batch webhook on loopback. */
    webhookSeconds: number;
    webhookRecipientsPerSecond: number;
    /** webhookRecipientsPerSecond / bareRecipientsPerSecond. */
    webhookRatio: number;
    /** The paced phase: an app's webhook with `ratePerSecond: PACED_RATE`. */
    paced: {
      recipients: number;
      ratePerSecond: number;
      burst: number;
      /** Messages over the seconds from the first arrival to the last. */
      achievedPerSecond: number;
      /** achievedPerSecond / ratePerSecond: the target is at least `PACED_TARGET_RATIO`. */
      ratio: number;
      /** The most messages that arrived in any one second: never above ratePerSecond + burst. */
      mostInOneSecond: number;
    };
  };
}

/** The campaign's status and counters as stored now: the one campaign read the bench makes. */
/**
 * A webhook receiver on loopback that reads each body, notes each message's idempotency
 * key and arrival time, and answers 204.
 */
async function startCountingReceiver() {
  const { createServer } = await import('node:http');
  const keys = new Set<string>();
  const arrivals: number[] = [];
  let requests = 0;
  const receiver = createServer(async (req, res) => {
    const at = Date.now();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const { messages } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
      messages: { idempotencyKey: string }[];
    };
    for (const m of messages) {
      keys.add(m.idempotencyKey);
      arrivals.push(at);
    }
    requests += 1;
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const port = (receiver.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    keys,
    arrivals,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => receiver.close(() => resolve())),
  };
}

/** The most of the sorted `times` within any window of `ms` that starts at one of them. */
export function mostInAnyWindow(times: readonly number[], ms: number): number {
  let most = 0;
  for (let i = 0, j = 0; i < times.length; i += 1) {
    while (j < times.length && (times[j] as number) < (times[i] as number) + ms) j += 1;
    most = Math.max(most, j - i);
  }
  return most;
}

async function campaignNow(appId: string, campaignId: string): Promise<{ status: string; counts: unknown }> {
  const { readCampaign } = await import('#shared/store/campaigns.ts');
  const campaign = await readCampaign(appId, campaignId);
  if (!campaign) throw new Error(`campaign ${campaignId} not found`);
  return { status: campaign.status, counts: campaign.counts };
}

/** How many of a campaign's recipients are stored in `status`, from the listing by status. */
async function countRecipients(appId: string, campaignId: string, status: 'sent'): Promise<number> {
  const { listRecipients } = await import('#shared/store/recipients.ts');
  let count = 0;
  let from: Parameters<typeof listRecipients>[2]['from'];
  do {
    const page = await listRecipients(appId, campaignId, { limit: 1000, status, ...(from ? { from } : {}) });
    count += page.items.length;
    from = page.next;
  } while (from);
  return count;
}

/** The recipients a delivery message body carries, as the bare loop reads them. */
function recipientsOf(body: string): { userId: string; variables: Record<string, string> }[] {
  return (JSON.parse(body) as { recipients: { userId: string; variables: Record<string, string> }[] })
    .recipients;
}

/** `--recipients`: a whole number from 1 to 100,000 (a campaign's limit). */
export function recipientsOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) {
    throw new Error(`--recipients must be a whole number from 1 to 100000, not '${value}'`);
  }
  return n;
}

/** Waits until the campaign's status is final; throws when its counters stop moving. */
async function waitForFinal(appId: string, campaignId: string): Promise<string> {
  let last = '';
  let movedAt = performance.now();
  for (;;) {
    const { status, counts } = await campaignNow(appId, campaignId);
    if (isFinalCampaignStatus(status)) return status;
    const now = JSON.stringify(counts);
    if (now !== last) {
      last = now;
      movedAt = performance.now();
    } else if (performance.now() - movedAt > STALL_MS) {
      throw new Error(`campaign ${campaignId} still ${status} and not moving: ${now}`);
    }
    await sleep(50);
  }
}

export async function benchDeliver(
  options: { recipients?: number; pollers?: number } = {},
): Promise<DeliverBench> {
  const count = options.recipients ?? 100_000;
  const pollers = options.pollers ?? (Number(process.env.LOCAL_DELIVERY_CONCURRENCY) || 4);
  const outboxDir = await mkdtemp(join(tmpdir(), 'bench-deliver-'));
  const runtime = await startLocalRuntime({
    port: 0,
    deliveryConcurrency: pollers,
    deferDeliveries: true,
    env: { DELIVERY_CHANNEL: 'outbox', OUTBOX_PATH: join(outboxDir, 'outbox.jsonl') },
  });
  try {
    const { newId, recipientsByStatusPk, shardOf } = await import('#shared/domain/keys.ts');
    const { newCampaign } = await import('#shared/domain/campaigns.ts');
    const { createCampaign, transitionCampaign } = await import('#shared/store/campaigns.ts');
    const { BATCH_WRITE_RETRY, recipientItem } = await import('#shared/store/recipients.ts');
    const { addRecipients, numberedRecipients } = await import('#test/support/recipients.ts');
    const { sendCampaign } = await import('#functions/send-campaign.ts');
    const { BatchWriteCommand } = await import('@aws-sdk/lib-dynamodb');
    const { client: documents, recipientShards, tableName } = runtime.table;

    const appId = runtime.appId;
    const now = new Date().toISOString();
    const templateId = await storeBenchTemplate(appId);
    // Both campaigns stored before anything is timed: both runs see the same table.
    const recipients = numberedRecipients(count);
    const [ours, bare] = [newId('cmp'), newId('cmp')];
    for (const id of [ours, bare]) {
      await createCampaign(newCampaign({ name: 'bench', templateId }, { id, appId, now }));
      await addRecipients(appId, id, recipients, runtime.table);
    }
    const dispatch = async (campaignId: string) => {
      await transitionCampaign(appId, campaignId, ['draft'], 'sending');
      const result = await sendCampaign(appId, campaignId);
      if (result.enqueuedRecipients !== count) {
        throw new Error(`dispatched ${result.enqueuedRecipients} of ${count} recipients`);
      }
      return result.enqueuedMessages;
    };

    // Ours: the runtime's pollers and the deliver function, outbox channel.
    const messages = await dispatch(ours);
    const started = performance.now();
    runtime.startDeliveries();
    const status = await waitForFinal(appId, ours);
    const seconds = (performance.now() - started) / 1000;
    await runtime.stopDeliveries();
    const sent = await countRecipients(appId, ours, 'sent');
    if (status !== 'sent' || sent !== count) {
      throw new Error(`delivery ended '${status}' with ${sent} of ${count} recipients sent`);
    }

    // The bare loop: receive, one BatchWriteItem put per recipient, delete.
    const bareMessages = await dispatch(bare);
    const sqs = new SQSClient({});
    const queueUrl = process.env.DELIVERY_QUEUE_URL as string;
    const writes = pLimit(BARE_WRITES_IN_FLIGHT);
    let deleted = 0;
    let written = 0;
    const writeAll = async (items: Record<string, unknown>[]) => {
      let requests = items.map((Item) => ({ PutRequest: { Item } }));
      await retry(async () => {
        const { UnprocessedItems } = await documents.send(
          new BatchWriteCommand({ RequestItems: { [tableName]: requests } }),
        );
        requests = (UnprocessedItems?.[tableName] ?? []) as typeof requests;
        if (requests.length > 0) throw new Error(`bare loop: ${requests.length} items left unprocessed`);
      }, BATCH_WRITE_RETRY);
    };
    const bareStarted = performance.now();
    let bareEnded = bareStarted;
    await Promise.all(
      Array.from({ length: pollers }, async () => {
        while (deleted < bareMessages) {
          // Not aborted at the end: an abandoned long poll would strand messages (see the runtime's stopDeliveries).
          const received = await sqs.send(
            new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
          );
          const batch = received.Messages ?? [];
          if (batch.length === 0) continue;
          const at = new Date().toISOString();
          const items: Record<string, unknown>[] = [];
          for (const message of batch) {
            for (const r of recipientsOf(message.Body ?? '')) {
              const shard = shardOf(r.userId, recipientShards);
              items.push({
                ...recipientItem(appId, bare, r, at),
                status: 'sent',
                gsi1pk: recipientsByStatusPk(appId, bare, 'sent', shard),
                messageId: message.MessageId,
                deliveredAt: at,
              });
            }
          }
          const calls: Promise<void>[] = [];
          for (let i = 0; i < items.length; i += 25)
            calls.push(writes(() => writeAll(items.slice(i, i + 25))));
          await Promise.all(calls);
          written += items.length;
          const { Failed = [] } = await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: batch.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
            }),
          );
          if (Failed.length > 0) throw new Error(`bare loop: ${Failed.length} deletes failed`);
          deleted += batch.length;
          if (deleted >= bareMessages) bareEnded = performance.now();
        }
      }),
    );
    const bareSeconds = (bareEnded - bareStarted) / 1000;
    const bareSent = await countRecipients(appId, bare, 'sent');
    if (written !== count || bareSent !== count) {
      throw new Error(`bare loop wrote ${written} and stored ${bareSent} of ${count} recipients as sent`);
    }

    // The webhook channel: another app, whose destination is a loopback receiver.
    const { putDestination } = await import('#shared/store/destinations.ts');
    const { secretCipher } = await import('#shared/adapters/secret-cipher.ts');
    /** Delivers `n` recipients of a new campaign of `hookApp` to a loopback webhook at `ratePerSecond`. */
    const throughWebhook = async (hookApp: string, n: number, ratePerSecond: number | null) => {
      const receiver = await startCountingReceiver();
      const hookTemplate = await storeBenchTemplate(hookApp);
      await putDestination(
        hookApp,
        { kind: 'webhook', url: receiver.url, batchSize: 100, ratePerSecond },
        secretCipher,
      );
      const hooked = newId('cmp');
      await createCampaign(
        newCampaign({ name: 'bench', templateId: hookTemplate }, { id: hooked, appId: hookApp, now }),
      );
      await addRecipients(hookApp, hooked, recipients.slice(0, n), runtime.table);
      await transitionCampaign(hookApp, hooked, ['draft'], 'sending');
      const hookDispatch = await sendCampaign(hookApp, hooked);
      if (hookDispatch.enqueuedRecipients !== n) {
        throw new Error(`dispatched ${hookDispatch.enqueuedRecipients} of ${n} recipients to the webhook`);
      }
      const hookStarted = performance.now();
      runtime.startDeliveries();
      const hookStatus = await waitForFinal(hookApp, hooked);
      const hookSeconds = (performance.now() - hookStarted) / 1000;
      await runtime.stopDeliveries();
      await receiver.close();
      const hookSent = await countRecipients(hookApp, hooked, 'sent');
      if (hookStatus !== 'sent' || hookSent !== n || receiver.keys.size !== n) {
        throw new Error(
          `webhook delivery ended '${hookStatus}' with ${hookSent} of ${n} sent and ${receiver.keys.size} distinct messages received in ${receiver.requests()} requests`,
        );
      }
      return { seconds: hookSeconds, arrivals: receiver.arrivals };
    };
    const webhookSeconds = (await throughWebhook(`${appId}-webhook`, count, null)).seconds;

    // Pacing: the same, to a webhook with a rate.
    const { burstOf } = await import('#shared/domain/destinations.ts');
    const pacedCount = Math.min(count, PACED_RATE * PACED_SECONDS);
    const { arrivals } = await throughWebhook(`${appId}-paced`, pacedCount, PACED_RATE);
    const spanSeconds = ((arrivals.at(-1) as number) - (arrivals[0] as number)) / 1000;
    const achievedPerSecond = pacedCount / Math.max(spanSeconds, 1e-3);

    const recipientsPerSecond = count / seconds;
    const bareRecipientsPerSecond = count / bareSeconds;
    return {
      deliver: {
        recipients: count,
        messages,
        pollers,
        seconds,
        recipientsPerSecond: Math.round(recipientsPerSecond),
        bareSeconds,
        bareRecipientsPerSecond: Math.round(bareRecipientsPerSecond),
        ratio: recipientsPerSecond / bareRecipientsPerSecond,
        webhookSeconds,
        webhookRecipientsPerSecond: Math.round(count / webhookSeconds),
        webhookRatio: count / webhookSeconds / bareRecipientsPerSecond,
        paced: {
          recipients: pacedCount,
          ratePerSecond: PACED_RATE,
          burst: burstOf(PACED_RATE),
          achievedPerSecond: Math.round(achievedPerSecond),
          ratio: achievedPerSecond / PACED_RATE,
          mostInOneSecond: mostInAnyWindow(arrivals, 1000),
        },
      },
    };
  } finally {
    await runtime.stop();
    await rm(outboxDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { recipients: { type: 'string' } } });
  const { deliver } = await benchDeliver({ recipients: recipientsOption(values.recipients) });
  console.table({
    'runtime pollers + deliver function': {
      seconds: deliver.seconds.toFixed(2),
      'recipients/s': deliver.recipientsPerSecond,
    },
    'runtime pollers + deliver function, batch webhook': {
      seconds: deliver.webhookSeconds.toFixed(2),
      'recipients/s': deliver.webhookRecipientsPerSecond,
    },
    'runtime pollers + deliver function, webhook paced': {
      seconds: (deliver.paced.recipients / deliver.paced.achievedPerSecond).toFixed(2),
      'recipients/s': deliver.paced.achievedPerSecond,
    },
    'bare Receive + BatchWrite + Delete': {
      seconds: deliver.bareSeconds.toFixed(2),
      'recipients/s': deliver.bareRecipientsPerSecond,
    },
  });
  console.log(
    `${deliver.recipients} recipients, ${deliver.messages} messages, ${deliver.pollers} pollers; ratio ${deliver.ratio.toFixed(2)} (target >= ${DELIVER_TARGET_RATIO}), webhook ${deliver.webhookRatio.toFixed(2)}`,
  );
}
