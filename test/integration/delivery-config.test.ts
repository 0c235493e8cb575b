/**
 * The channel `DELIVERY_CHANNEL` picks, doing its I/O: the outbox writing its file, the
 * webhook posting to a loopback server as often as `WEBHOOK_MAX_ATTEMPTS` says. The
 * configuration's rules themselves are tested without I/O in test/unit/delivery-config.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readOutbox } from '#shared/adapters/outbox-channel.ts';
import { oneMessageBatch as batch, loadDelivery as load } from '#test/support/delivery-env.ts';

afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe('delivery channel from configuration', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('is the outbox channel by default, writing to OUTBOX_PATH', async () => {
    dir = await mkdtemp(join(tmpdir(), 'channel-'));
    const path = join(dir, 'outbox.jsonl');
    const { channel } = await load({ OUTBOX_PATH: path });
    if (channel instanceof Error) throw channel;
    expect(channel.deliveryChannel.name).toBe('outbox');
    expect(channel.deliveryChannel.maxBatchSize).toBe(100);
    expect(await channel.deliveryChannel.deliverBatch(batch)).toEqual([{ status: 'accepted' }]);
    expect((await readOutbox(path)).map((e) => e.userId)).toEqual(['u']);
  });

  it('is the webhook channel with the configured attempts when DELIVERY_CHANNEL=webhook', async () => {
    let requests = 0;
    const server = createServer((_req, res) => {
      requests += 1;
      res.writeHead(503).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const { channel } = await load({
        DELIVERY_CHANNEL: 'webhook',
        WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
        WEBHOOK_MAX_ATTEMPTS: '2',
        WEBHOOK_BASE_DELAY_MS: '0',
        WEBHOOK_BATCH_SIZE: '7',
      });
      if (channel instanceof Error) throw channel;
      expect(channel.deliveryChannel.name).toBe('webhook');
      expect(channel.deliveryChannel.maxBatchSize).toBe(7);
      await expect(channel.deliveryChannel.deliverBatch(batch)).rejects.toMatchObject({
        name: 'TransientDeliveryError',
        attempts: 2,
      });
      expect(requests).toBe(2);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
