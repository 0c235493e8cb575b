/**
 * Streams a campaign's recipients as CSV lines (`shared/domain/recipients-export.ts`)
 * from the recipient pages of the table; `object-writer.ts` writes such a stream to S3.
 */
import type { RecipientStatus } from '#shared/domain/model.ts';
import { exportHeader, exportLine } from '#shared/domain/recipients-export.ts';
import { listRecipients, type RecipientPosition } from '#shared/store/recipients.ts';

/**
 * Recipients read per page: a recipient holds at most 64 KiB of variables, so a page
 * is at most about 6.4 MB of values, whatever the campaign.
 */
export const EXPORT_PAGE_SIZE = 100;

/**
 * The header, then one line per recipient (with `status`, only those in it), reading
 * the next page only when the consumer has taken the lines of the previous one.
 */
export async function* recipientLines(
  appId: string,
  campaignId: string,
  keys: readonly string[],
  options: { status?: RecipientStatus; pageSize?: number } = {},
): AsyncGenerator<string> {
  yield exportHeader(keys);
  let from: RecipientPosition | undefined;
  do {
    const { items, next } = await listRecipients(appId, campaignId, {
      limit: options.pageSize ?? EXPORT_PAGE_SIZE,
      ...(from ? { from } : {}),
      ...(options.status ? { status: options.status } : {}),
    });
    for (const item of items) yield exportLine(keys, item);
    from = next;
  } while (from);
}
