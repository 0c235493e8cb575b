/**
 * A child process for the outbox test: waits for `go` on stdin (after printing `ready`),
 * then delivers `batches` batches of `size` messages at once through its own outbox
 * channel, so several processes append to one file at the same moment.
 *
 * Usage: node test/support/outbox-writer.ts <path> <prefix> <batches> <size> <bodyChars>
 */
import { createOutboxChannel } from '#shared/adapters/outbox-channel.ts';

const [path, prefix, batches, size, bodyChars] = process.argv.slice(2);
if (!path || !prefix || !batches || !size || !bodyChars)
  throw new Error('usage: <path> <prefix> <batches> <size> <bodyChars>');
const channel = createOutboxChannel({ path });
const filler = 'é'.repeat(Number(bodyChars));

process.stdout.write('ready\n');
process.stdin.once('data', async () => {
  await Promise.all(
    Array.from({ length: Number(batches) }, (_, b) =>
      channel.deliverBatch({
        appId: 'app_1',
        campaignId: `${prefix}-b${b}`,
        messages: Array.from({ length: Number(size) }, (_, m) => ({
          userId: `${prefix}-b${b}-m${m}`,
          title: null,
          body: `${m}:${filler}`,
          idempotencyKey: `${prefix}-b${b}:${prefix}-b${b}-m${m}`,
        })),
      }),
    ),
  );
  process.stdout.write('done\n');
  process.exit(0);
});
