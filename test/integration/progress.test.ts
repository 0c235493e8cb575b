/**
 * A sending campaign's progress on `GET /api/campaigns/{id}` (docs/api.md, "Progress"):
 * the channel holds each campaign's deliveries after its first few chunks, so the
 * campaign stays `sending` with some recipients counted while the test reads it through
 * the API and the CLI; once let go, the campaign ends and `progress` is gone.
 */
import { execFile } from 'node:child_process';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { RATE_SLOT_MS, rateSlotOf } from '#shared/domain/campaign-progress.ts';
import type { ChannelBatch, ChannelResult, DeliveryChannel } from '#shared/domain/channel.ts';
import { createCampaignsStore } from '#shared/store/campaigns.ts';
import { deliverBatchFunction } from '#test/support/functions.ts';
import { addRecipients, numberedRecipients } from '#test/support/recipients.ts';
import { apiClient, type Credentials, newApp, useRuntime } from '#test/support/runtime.ts';
import { draftCampaign as approvedDraft } from '#test/support/uploads.ts';

/** A campaign's deliveries: the first `pass` channel calls go through, the others wait for `open`. */
interface Gate {
  pass: number;
  opened: Promise<void>;
  open(): void;
}
const gates = new Map<string, Gate>();

function hold(campaignId: string, pass: number): Gate {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const gate = { pass, opened, open };
  gates.set(campaignId, gate);
  return gate;
}

const channel: DeliveryChannel = {
  name: 'gated',
  maxBatchSize: 100,
  async deliverBatch(batch: ChannelBatch) {
    const gate = gates.get(batch.campaignId);
    if (gate && gate.pass > 0) gate.pass -= 1;
    else if (gate) await gate.opened;
    return batch.messages.map((): ChannelResult => ({ status: 'accepted' }));
  },
};

const runtime = useRuntime({
  env: { DELIVERY_RETRY_BASE_SECONDS: '0' },
  loadDeliverHandler: async () => (await deliverBatchFunction()).createDeliverHandler({ channel }),
});

type Api = ReturnType<typeof apiClient>;

async function draftCampaign(recipients: number) {
  const credentials = await newApp('progress');
  const api = apiClient(runtime.current.url, credentials);
  const id = await approvedDraft(api, { name: { type: 'string' } });
  if (recipients > 0) await addRecipients(credentials.appId, id, numberedRecipients(recipients));
  return { api, id, credentials };
}

/** The campaign once its progress has a measured rate (some chunks counted, over a second). */
async function measured(api: Api, id: string) {
  await expect
    .poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data.progress?.ratePerSecond ?? null, {
      timeout: 60_000,
      interval: 200,
    })
    .not.toBeNull();
  const before = Date.now();
  const campaign = (await api.get(`/api/campaigns/${id}`)).body.data;
  return { campaign, before };
}

async function finished(api: Api, id: string) {
  await expect
    .poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data.status, {
      timeout: 60_000,
      interval: 200,
    })
    .toBe('sent');
  return (await api.get(`/api/campaigns/${id}`)).body.data;
}

const CLI = new URL('../../cli/campaigns.ts', import.meta.url).pathname;

/** `campaigns campaign get <id>` as a person (or with --json) runs it. */
function campaignGet(credentials: Credentials, id: string, json: boolean) {
  const args = [CLI, 'campaign', 'get', id, '--endpoint', runtime.current.url];
  args.push('--app-id', credentials.appId, '--api-key', credentials.apiKey, ...(json ? ['--json'] : []));
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, args, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('GET /api/campaigns/{id} while sending', () => {
  it('carries startedAt, then a measured rate and an ETA, and no progress once sent', async () => {
    const total = 1_000;
    const { api, id, credentials } = await draftCampaign(total);
    // Three chunks of 100 delivered, the other seven held.
    const gate = hold(id, 3);
    try {
      const sendAt = Date.now();
      expect((await api.post(`/api/campaigns/${id}/send`)).status).toBe(202);
      const sentAt = Date.now();

      const early = (await api.get(`/api/campaigns/${id}`)).body.data;
      expect(early.status).toBe('sending');
      expect(Object.keys(early.progress).sort()).toEqual(['eta', 'ratePerSecond', 'startedAt']);
      const startedAt = Date.parse(early.progress.startedAt);
      expect(startedAt).toBeGreaterThanOrEqual(sendAt);
      expect(startedAt).toBeLessThanOrEqual(sentAt);

      const { campaign, before } = await measured(api, id);
      expect(campaign.status).toBe('sending');
      const settled = campaign.counts.sent + campaign.counts.failed + campaign.counts.skipped;
      expect(settled).toBeGreaterThan(0);
      expect(settled).toBeLessThan(total);
      expect(campaign.progress.ratePerSecond).toBeGreaterThan(0);
      expect(campaign.progress.startedAt).toBe(early.progress.startedAt);
      const eta = Date.parse(campaign.progress.eta);
      expect(Number.isNaN(eta)).toBe(false);
      expect(new Date(eta).toISOString()).toBe(campaign.progress.eta);
      expect(eta).toBeGreaterThanOrEqual(before);

      // A listing carries no progress.
      const listed = (await api.get('/api/campaigns?status=sending')).body.data;
      expect(listed.map((c: { id: string }) => c.id)).toEqual([id]);
      expect(listed[0]).not.toHaveProperty('progress');

      // The CLI prints it as it is with --json, and in words without.
      const json = await campaignGet(credentials, id, true);
      expect(json.code, json.stderr).toBe(0);
      expect(JSON.parse(json.stdout).progress).toEqual({
        ratePerSecond: expect.any(Number),
        eta: expect.any(String),
        startedAt: early.progress.startedAt,
      });
      const text = await campaignGet(credentials, id, false);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toContain(`  started     ${early.progress.startedAt}\n`);
      expect(text.stdout).toMatch(/^ {2}rate {8}\d+(\.\d)? recipients\/s over the last minute$/m);
      expect(text.stdout).toMatch(/^ {2}eta {9}\S+Z \(in \d+ (s|min \d\d s|h \d\d min)\)$/m);
    } finally {
      gate.open();
    }

    const sent = await finished(api, id);
    expect(sent.counts.sent).toBe(total);
    expect(sent).not.toHaveProperty('progress');
    expect(sent).not.toHaveProperty('startedAt');
  });

  it('starts a scheduled campaign with startedAt when its schedule fires', async () => {
    const { api, id } = await draftCampaign(300);
    const gate = hold(id, 1);
    try {
      const scheduledAt = new Date(Date.now() + 2_000).toISOString();
      expect((await api.post(`/api/campaigns/${id}/send`, { scheduledAt })).status).toBe(202);
      await expect
        .poll(async () => (await api.get(`/api/campaigns/${id}`)).body.data.status, {
          timeout: 60_000,
          interval: 200,
        })
        .toBe('sending');
      const { progress } = (await api.get(`/api/campaigns/${id}`)).body.data;
      expect(Date.parse(progress.startedAt)).toBeGreaterThanOrEqual(Date.parse(scheduledAt));
    } finally {
      gate.open();
    }
    expect((await finished(api, id)).counts.sent).toBe(300);
  });
});

describe('rate slots of the counter shards', () => {
  it('count settled recipients into the slot of their count, and a later count removes the slots too old to read', async () => {
    const { id, credentials } = await draftCampaign(0);
    const { appId } = credentials;
    const { client: documents } = runtime.current.table;
    const { countsUpdate, readCampaign } = createCampaignsStore(runtime.current.table);
    type Delta = Parameters<typeof countsUpdate>[3];
    const count = (shard: number, delta: Delta, at: number) =>
      documents.send(
        new TransactWriteCommand({ TransactItems: [countsUpdate(appId, id, shard, delta, at)] }),
      );
    const slot = rateSlotOf(Date.now()) - 30;
    const at = (k: number) => (slot + k) * RATE_SLOT_MS;

    await count(0, { pending: -5, queued: 5 }, at(0)); // dispatch settles nobody
    await count(0, { queued: -4, sent: 3, failed: 1 }, at(0));
    await count(1, { queued: -2, skipped: 2 }, at(0) + 1_000); // another shard, the same slot
    await count(0, { queued: -1, sent: 1 }, at(12)); // 12 slots on: the first is still read
    expect((await readCampaign(appId, id))?.settledBySlot).toEqual(
      new Map([
        [slot, 6],
        [slot + 12, 1],
      ]),
    );

    // 13 slots on: shard 0's first slot is gone; shard 1, not counted since, keeps its own.
    await count(0, { queued: -1, sent: 1 }, at(13));
    const campaign = await readCampaign(appId, id);
    expect(campaign?.settledBySlot).toEqual(
      new Map([
        [slot, 2],
        [slot + 12, 1],
        [slot + 13, 1],
      ]),
    );
    expect(campaign?.counts).toMatchObject({ sent: 5, failed: 1, skipped: 2 });
  });
});
