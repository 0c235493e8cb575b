/**
 * One pass over a CSV upload: file-level checks (`csv-stream.ts`), the header and every
 * row against the template's schema (`csv-rules.ts`), and de-duplication of `user_id`
 * within the file. The importer runs it twice: a validating pass with no writes (so a
 * file-level breach found late, such as row 100,001, adds no recipient), then the
 * writing pass.
 *
 * - A row is checked before it is de-duplicated: a rejected row is never "the first" of
 *   its user id, and a later row with the same user id is then checked on its own.
 * - Of the valid rows with the same `user_id` (compared exactly, case-sensitive) the first
 *   wins; the later ones are counted in `duplicates` and neither handed on nor rejected.
 * - `onBatch` receives up to `batchSize` valid recipients at a time and is awaited before
 *   more of the file is read (backpressure). `onRejection` gets each rejected row in file
 *   order. `onProgress` gets a copy of the totals after every `progressEvery` rows read
 *   (not at the end: the returned totals are the final ones). `onDetected` gets what the
 *   file-level checks found of the file's form (BOM, line endings, rows), once, at its end.
 */
import { checkHeader, rowVariables, shownUserId, unneutralizeCell } from '#shared/domain/csv-rules.ts';
import { type CsvDetected, CsvFileError, openCsvBatches } from '#shared/domain/csv-stream.ts';
import type { Rejection, VariableSchema, VariableValue } from '#shared/domain/model.ts';
import { CompactStringSet } from '#shared/domain/string-set.ts';
import { InvalidInputError } from '#shared/errors.ts';

export interface ValidRecipient {
  row: number;
  userId: string;
  variables: Record<string, VariableValue>;
}

export interface ValidationTotals {
  /** Data records read: valid + rejected + duplicates. */
  rowsRead: number;
  valid: number;
  rejected: number;
  duplicates: number;
}

export const DEFAULT_BATCH_SIZE = 500;
export const DEFAULT_PROGRESS_EVERY = 5000;

/**
 * Streams `source`, checks the header against `schema` (`CsvFileError` on breach), checks
 * every row, de-duplicates `user_id` (first wins), hands valid recipients in batches to
 * `onBatch`, rejections one by one to `onRejection`, and totals to `onProgress` every
 * `progressEvery` rows. Throws `CsvFileError` for file-level problems.
 */
export async function validateCsv(
  source: AsyncIterable<Uint8Array>,
  schema: VariableSchema,
  handlers: {
    onBatch?: (batch: ValidRecipient[]) => Promise<void>;
    onRejection?: (rejection: Rejection) => void | Promise<void>;
    onProgress?: (totals: ValidationTotals) => void | Promise<void>;
    onDetected?: (detected: CsvDetected) => void;
  },
  options: { maxRows?: number; batchSize?: number; progressEvery?: number } = {},
): Promise<ValidationTotals> {
  const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
  const progressEvery = Math.max(1, options.progressEvery ?? DEFAULT_PROGRESS_EVERY);
  const { onBatch, onRejection, onProgress, onDetected } = handlers;

  const reader = await openCsvBatches(
    source,
    options.maxRows === undefined ? {} : { maxRows: options.maxRows },
  );
  const header = reader.header;
  try {
    checkHeader(header, schema);
  } catch (error) {
    await reader.batches[Symbol.asyncIterator]().return?.();
    if (error instanceof InvalidInputError) throw new CsvFileError(error.message, error.details);
    throw error;
  }

  const userIdIndex = header.indexOf('user_id');
  const totals: ValidationTotals = { rowsRead: 0, valid: 0, rejected: 0, duplicates: 0 };
  // The de-duplication set; compact, since it is the one thing that grows with the file.
  const seen = new CompactStringSet();
  let batch: ValidRecipient[] = [];
  for await (const rows of reader.batches) {
    for (const { row, fields } of rows) {
      totals.rowsRead++;
      const variables = rowVariables(fields, header, schema);
      // Valid rows always have it; a rejected short row may not (shown as '').
      const written = fields[userIdIndex] as string;
      if (typeof variables === 'string') {
        totals.rejected++;
        if (onRejection !== undefined) {
          const done = onRejection({ row, userId: shownUserId(written), reason: variables });
          if (done !== undefined) await done;
        }
      } else {
        // Read back from its neutralised form (docs/csv.md): an export uploads as it is.
        const userId = unneutralizeCell(written);
        if (!seen.add(userId)) {
          totals.duplicates++;
        } else {
          totals.valid++;
          batch.push({ row, userId, variables });
          if (batch.length >= batchSize) {
            const full = batch;
            batch = [];
            if (onBatch !== undefined) await onBatch(full);
          }
        }
      }
      if (onProgress !== undefined && totals.rowsRead % progressEvery === 0) {
        const done = onProgress({ ...totals });
        if (done !== undefined) await done;
      }
    }
  }
  if (batch.length > 0 && onBatch !== undefined) await onBatch(batch);
  onDetected?.(reader.detected());
  return totals;
}
