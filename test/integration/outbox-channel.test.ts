import { type ChildProcess, spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createOutboxChannel, type OutboxEntry, readOutbox } from '#shared/adapters/outbox-channel.ts';
import { type ChannelBatch, type ChannelMessage, idempotencyKeyOf } from '#shared/domain/channel.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outbox-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function message(userId: string, body = `Hello ${userId}`, campaignId = 'cmp_1'): ChannelMessage {
  return { userId, title: 'Hi', body, idempotencyKey: idempotencyKeyOf(campaignId, userId) };
}

function batch(messages: ChannelMessage[], campaignId = 'cmp_1'): ChannelBatch {
  return { appId: 'app_1', campaignId, messages };
}

/**
 * Each batch (one campaign per batch here) is one run of consecutive lines holding its
 * `size` messages in order: no other line landed in between.
 */
function expectBatchesWhole(entries: OutboxEntry[], size: number) {
  const runs: { campaignId: string; users: string[] }[] = [];
  for (const entry of entries) {
    const last = runs.at(-1);
    if (last?.campaignId === entry.campaignId) last.users.push(entry.userId);
    else runs.push({ campaignId: entry.campaignId, users: [entry.userId] });
  }
  const broken = runs.filter(
    (run) => run.users.join() !== Array.from({ length: size }, (_, m) => `${run.campaignId}-m${m}`).join(),
  );
  expect(broken.map((run) => run.campaignId)).toEqual([]);
  expect(new Set(runs.map((run) => run.campaignId)).size).toBe(runs.length);
}

describe('outbox channel', () => {
  it('appends each message of a batch as one JSON line with the app, creating the folder', async () => {
    const path = join(dir, 'nested', '.data', 'outbox.jsonl');
    const channel = createOutboxChannel({ path, now: () => new Date('2026-01-02T03:04:05.000Z') });
    expect(channel.name).toBe('outbox');
    expect(channel.maxBatchSize).toBe(100);
    const results = await channel.deliverBatch(
      batch([message('u1'), { ...message('u2', 'line\nbreak "quoted"'), title: null }]),
    );
    expect(results).toEqual([{ status: 'accepted' }, { status: 'accepted' }]);

    const text = await readFile(path, 'utf8');
    expect(text.split('\n')).toHaveLength(3);
    const first = JSON.parse(text.split('\n')[0] ?? '');
    expect(first).toEqual({
      deliveredAt: '2026-01-02T03:04:05.000Z',
      appId: 'app_1',
      campaignId: 'cmp_1',
      userId: 'u1',
      title: 'Hi',
      body: 'Hello u1',
      idempotencyKey: 'cmp_1:u1',
    });
    expect(Object.keys(first)).toEqual([
      'deliveredAt',
      'appId',
      'campaignId',
      'userId',
      'title',
      'body',
      'idempotencyKey',
    ]);
    // No title is written as null, never left out.
    expect(JSON.parse(text.split('\n')[1] ?? '')).toHaveProperty('title', null);
    const entries = await readOutbox(path);
    expect(entries.map((e) => e.userId)).toEqual(['u1', 'u2']);
    expect(entries[1]?.body).toBe('line\nbreak "quoted"');
    expect(entries[1]?.title).toBeNull();
    expect(entries[1]?.appId).toBe('app_1');
  });

  it('writes nothing for an empty batch, and refuses a batch over 100 messages', async () => {
    const path = join(dir, 'outbox.jsonl');
    const channel = createOutboxChannel({ path });
    expect(await channel.deliverBatch(batch([]))).toEqual([]);
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    const tooMany = Array.from({ length: 101 }, (_, i) => message(`u${i}`));
    await expect(channel.deliverBatch(batch(tooMany))).rejects.toThrow(RangeError);
    expect(await readOutbox(path)).toEqual([]);
    await channel.deliverBatch(batch(tooMany.slice(0, 100)));
    expect(await readOutbox(path)).toHaveLength(100);
  });

  it('keeps every batch whole, its lines together, under many concurrent batches from several channels', async () => {
    const path = join(dir, 'outbox.jsonl');
    const channels = [createOutboxChannel({ path }), createOutboxChannel({ path })];
    const big = 'é'.repeat(6000);
    const size = 10;
    await Promise.all(
      Array.from({ length: 60 }, (_, b) =>
        channels[b % 2]?.deliverBatch(
          batch(
            Array.from({ length: size }, (_, m) => message(`c${b}-m${m}`, `${m}:${big}`, `c${b}`)),
            `c${b}`,
          ),
        ),
      ),
    );
    const entries = await readOutbox(path);
    expect(entries).toHaveLength(600);
    for (const entry of entries) expect(entry.body).toBe(`${entry.userId.split('-m')[1]}:${big}`);
    expect(new Set(entries.map((e) => e.userId)).size).toBe(600);
    expectBatchesWhole(entries, size);
  });

  it('keeps batches whole when several processes append at the same moment', async () => {
    const path = join(dir, 'outbox.jsonl');
    const script = fileURLToPath(new URL('../support/outbox-writer.ts', import.meta.url));
    const size = 20;
    const children: ChildProcess[] = ['p0', 'p1', 'p2'].map((prefix) =>
      spawn(process.execPath, [script, path, prefix, '20', String(size), '3000'], {
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
    );
    const said = (child: ChildProcess, word: string) =>
      new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
          if (out.split('\n').includes(word)) resolve();
        });
        child.once('exit', (code) => reject(new Error(`writer exited with ${code} before '${word}'`)));
      });
    try {
      // All started and waiting: then go, all at once.
      await Promise.all(children.map((child) => said(child, 'ready')));
      const done = children.map((child) => said(child, 'done'));
      for (const child of children) child.stdin?.write('go\n');
      await Promise.all(done);
    } finally {
      for (const child of children) child.kill();
    }
    const entries = await readOutbox(path);
    expect(entries).toHaveLength(3 * 20 * size);
    for (const entry of entries)
      expect(entry.body).toBe(`${entry.userId.split('-m')[1]}:${'é'.repeat(3000)}`);
    expectBatchesWhole(entries, size);
  }, 60_000);

  it('recreates its folder when it was removed between deliveries', async () => {
    const path = join(dir, 'data', 'outbox.jsonl');
    const channel = createOutboxChannel({ path });
    await channel.deliverBatch(batch([message('u1')]));
    await rm(join(dir, 'data'), { recursive: true });
    await channel.deliverBatch(batch([message('u2'), message('u3')]));
    expect((await readOutbox(path)).map((e) => e.userId)).toEqual(['u2', 'u3']);
  });

  it('keeps appending after the file was removed', async () => {
    const path = join(dir, 'outbox.jsonl');
    const channel = createOutboxChannel({ path });
    await channel.deliverBatch(batch([message('u1')]));
    await rm(path);
    await channel.deliverBatch(batch([message('u2')]));
    expect((await readOutbox(path)).map((e) => e.userId)).toEqual(['u2']);
  });
});

describe('readOutbox', () => {
  it('returns no entries for a missing file', async () => {
    expect(await readOutbox(join(dir, 'none.jsonl'))).toEqual([]);
  });

  it('leaves out a last line still being written, and blank lines', async () => {
    const path = join(dir, 'outbox.jsonl');
    await createOutboxChannel({ path }).deliverBatch(batch([message('u1')]));
    await appendFile(path, '\n{"deliveredAt":"2026');
    expect((await readOutbox(path)).map((e) => e.userId)).toEqual(['u1']);
  });

  it('names the line that is not an entry', async () => {
    const path = join(dir, 'outbox.jsonl');
    const line = {
      deliveredAt: 'x',
      appId: 'a',
      campaignId: 'c',
      userId: 'u',
      title: null,
      body: 'b',
      idempotencyKey: 'c:u',
    };
    await writeFile(path, `${JSON.stringify(line)}\nnope\n`);
    await expect(readOutbox(path)).rejects.toThrow(/line 2 is not JSON/);
    await writeFile(path, '{"userId":"u"}\n');
    await expect(readOutbox(path)).rejects.toThrow(/line 1 is not an outbox entry/);
    // Without its app, or without a title (not even null), a line is not an entry.
    const { appId: _appId, ...noApp } = line;
    await writeFile(path, `${JSON.stringify(line)}\n${JSON.stringify(noApp)}\n`);
    await expect(readOutbox(path)).rejects.toThrow(/line 2 is not an outbox entry/);
    const { title: _title, ...noTitle } = line;
    await writeFile(path, `${JSON.stringify(noTitle)}\n`);
    await expect(readOutbox(path)).rejects.toThrow(/line 1 is not an outbox entry/);
  });
});
