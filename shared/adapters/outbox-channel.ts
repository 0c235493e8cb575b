/**
 * The outbox channel, the local runtime's default: each delivered message becomes one
 * JSON line of a file (`.data/outbox.jsonl` unless `OUTBOX_PATH` says otherwise), so a
 * developer, a test or the dashboard can see exactly what users would have received.
 *
 * All lines of a batch are written with a single `write` on a descriptor opened with
 * `O_APPEND`, so batches from concurrent deliveries, even from several processes, land
 * whole, their lines together, and never interleave (on a local file system). Opening
 * per batch keeps no descriptor across Lambda invocations and follows the file when a
 * test truncates or removes it. Every message is accepted.
 */
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { ChannelBatch, ChannelResult, DeliveryChannel } from '#shared/domain/channel.ts';

/** One line of the outbox. */
export const outboxEntrySchema = z.object({
  deliveredAt: z.string(),
  appId: z.string(),
  /** The campaign, or the notification id of a one-call send. */
  campaignId: z.string(),
  userId: z.string(),
  /** null when the template has no title. */
  title: z.string().nullable(),
  body: z.string(),
  idempotencyKey: z.string(),
});

export type OutboxEntry = z.infer<typeof outboxEntrySchema>;

export interface OutboxChannelOptions {
  path: string;
  now?: () => Date;
}

async function appendWhole(path: string, data: Buffer): Promise<void> {
  const handle = await open(path, 'a');
  try {
    let offset = 0;
    // One write in practice; the loop only guards against a short write (disk full).
    while (offset < data.length) {
      const { bytesWritten } = await handle.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
  } finally {
    await handle.close();
  }
}

/** Most messages per batch. */
export const OUTBOX_MAX_BATCH_SIZE = 100;

/** Creates an outbox channel appending to `path` (its folder is created whenever missing). */
export function createOutboxChannel(options: OutboxChannelOptions): DeliveryChannel {
  const now = options.now ?? (() => new Date());
  return {
    name: 'outbox',
    maxBatchSize: OUTBOX_MAX_BATCH_SIZE,
    async deliverBatch(batch: ChannelBatch): Promise<ChannelResult[]> {
      if (batch.messages.length > OUTBOX_MAX_BATCH_SIZE) {
        throw new RangeError(
          `outbox batch of ${batch.messages.length} messages, more than ${OUTBOX_MAX_BATCH_SIZE}`,
        );
      }
      if (batch.messages.length === 0) return [];
      const deliveredAt = now().toISOString();
      let text = '';
      for (const message of batch.messages) {
        const entry: OutboxEntry = {
          deliveredAt,
          appId: batch.appId,
          campaignId: batch.campaignId,
          userId: message.userId,
          title: message.title,
          body: message.body,
          idempotencyKey: message.idempotencyKey,
        };
        text += `${JSON.stringify(entry)}\n`;
      }
      const lines = Buffer.from(text, 'utf8');
      try {
        await appendWhole(options.path, lines);
      } catch (error) {
        // The folder is missing (first delivery, or a test wiped `.data`): create it, once more.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        await mkdir(dirname(options.path), { recursive: true });
        await appendWhole(options.path, lines);
      }
      return batch.messages.map(() => ({ status: 'accepted' }));
    },
  };
}

/**
 * The entries of an outbox file, oldest first; none when the file does not exist. A
 * last line without its newline (a write in progress) is left out; any other line
 * that is not an entry is an error naming its line number.
 */
export async function readOutbox(path: string): Promise<OutboxEntry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const lines = text.split('\n');
  // The piece after the last newline: '' when the file ends with one.
  lines.pop();
  const entries: OutboxEntry[] = [];
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (error) {
      throw new Error(`${path} line ${index + 1} is not JSON`, { cause: error });
    }
    const parsed = outboxEntrySchema.safeParse(json);
    if (!parsed.success) throw new Error(`${path} line ${index + 1} is not an outbox entry`);
    entries.push(parsed.data);
  }
  return entries;
}
