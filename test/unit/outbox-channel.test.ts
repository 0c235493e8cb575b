import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createOutboxChannel, readOutbox } from '#shared/adapters/outbox-channel.ts';
import { type DeliveryMessage, idempotencyKeyOf } from '#shared/domain/channel.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outbox-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function message(userId: string, body = `Hello ${userId}`): DeliveryMessage {
  return {
    campaignId: 'cmp_1',
    userId,
    title: 'Hi',
    body,
    idempotencyKey: idempotencyKeyOf('cmp_1', userId),
  };
}

describe('outbox channel', () => {
  it('appends each message as one JSON line, creating the folder', async () => {
    const path = join(dir, 'nested', '.data', 'outbox.jsonl');
    const channel = createOutboxChannel({ path, now: () => new Date('2026-01-02T03:04:05.000Z') });
    expect(channel.name).toBe('outbox');
    await channel.deliver(message('u1'));
    await channel.deliver({ ...message('u2', 'line\nbreak "quoted"'), title: undefined });

    const text = await readFile(path, 'utf8');
    expect(text.split('\n')).toHaveLength(3);
    expect(JSON.parse(text.split('\n')[0] ?? '')).toEqual({
      deliveredAt: '2026-01-02T03:04:05.000Z',
      campaignId: 'cmp_1',
      userId: 'u1',
      title: 'Hi',
      body: 'Hello u1',
      idempotencyKey: 'cmp_1:u1',
    });
    const entries = await readOutbox(path);
    expect(entries.map((e) => e.userId)).toEqual(['u1', 'u2']);
    expect(entries[1]?.body).toBe('line\nbreak "quoted"');
    expect(entries[1]).not.toHaveProperty('title');
  });

  it('keeps every line whole under many concurrent deliveries from several channels', async () => {
    const path = join(dir, 'outbox.jsonl');
    const channels = [createOutboxChannel({ path }), createOutboxChannel({ path })];
    const big = 'é'.repeat(6000);
    await Promise.all(
      Array.from({ length: 300 }, (_, i) => channels[i % 2]?.deliver(message(`user-${i}`, `${i}:${big}`))),
    );
    const entries = await readOutbox(path);
    expect(entries).toHaveLength(300);
    for (const entry of entries) expect(entry.body).toBe(`${entry.userId.slice(5)}:${big}`);
    expect(new Set(entries.map((e) => e.userId)).size).toBe(300);
  });

  it('recreates its folder when it was removed between deliveries', async () => {
    const path = join(dir, 'data', 'outbox.jsonl');
    const channel = createOutboxChannel({ path });
    await channel.deliver(message('u1'));
    await rm(join(dir, 'data'), { recursive: true });
    await channel.deliver(message('u2'));
    expect((await readOutbox(path)).map((e) => e.userId)).toEqual(['u2']);
  });

  it('keeps appending after the file was removed', async () => {
    const path = join(dir, 'outbox.jsonl');
    const channel = createOutboxChannel({ path });
    await channel.deliver(message('u1'));
    await rm(path);
    await channel.deliver(message('u2'));
    expect((await readOutbox(path)).map((e) => e.userId)).toEqual(['u2']);
  });
});

describe('readOutbox', () => {
  it('returns no entries for a missing file', async () => {
    expect(await readOutbox(join(dir, 'none.jsonl'))).toEqual([]);
  });

  it('leaves out a last line still being written, and blank lines', async () => {
    const path = join(dir, 'outbox.jsonl');
    await createOutboxChannel({ path }).deliver(message('u1'));
    await appendFile(path, '\n{"deliveredAt":"2026');
    expect((await readOutbox(path)).map((e) => e.userId)).toEqual(['u1']);
  });

  it('names the line that is not an entry', async () => {
    const path = join(dir, 'outbox.jsonl');
    await writeFile(
      path,
      '{"deliveredAt":"x","campaignId":"c","userId":"u","body":"b","idempotencyKey":"c:u"}\nnope\n',
    );
    await expect(readOutbox(path)).rejects.toThrow(/line 2 is not JSON/);
    await writeFile(path, '{"userId":"u"}\n');
    await expect(readOutbox(path)).rejects.toThrow(/line 1 is not an outbox entry/);
  });
});
