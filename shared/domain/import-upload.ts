/**
 * The importer's core, with its I/O passed in. Two passes over the object:
 *
 * 1. a validating pass with writes off: header, encoding, delimiter, row limit. A
 *    file-level error found anywhere in the file fails the upload before any
 *    recipient is written, so a failed file adds nothing;
 * 2. the writing pass: valid recipients go to `writeBatch` in batches (keyed puts, so a
 *    replay rewrites the same items), rejections to the report, progress at intervals.
 *
 * Reading the file twice costs one more parse (about a second per 100,000 rows) and
 * no writes; it keeps "all or nothing" for file errors without staging recipients.
 */
import { CsvFileError } from './csv-stream.ts';
import { type ValidationTotals, type ValidRecipient, validateCsv } from './csv-validate.ts';
import type { Rejection, VariableSchema } from './model.ts';

/** How many rejections the upload record keeps; all of them go to the report. */
export const REJECTIONS_KEPT = 100;

export interface ImportPorts {
  /** A fresh stream of the object's bytes (called once per pass). */
  open(): Promise<AsyncIterable<Uint8Array>>;
  writeBatch(batch: ValidRecipient[]): Promise<void>;
  /** Waits for every write; throws a write failure. */
  flush(): Promise<void>;
  /** Pass 2's progress (also renews the importer's lease). */
  progress(totals: ValidationTotals): Promise<void>;
  /** Pass 1's heartbeat: renews the lease, counts nothing. */
  heartbeat(): Promise<void>;
  addRejection(rejection: Rejection): Promise<void> | void;
}

export type ImportOutcome =
  | { ok: true; totals: ValidationTotals; rejections: Rejection[] }
  | { ok: false; error: { code: 'ERR_BAD_REQUEST'; message: string } };

export async function importUpload(
  ports: ImportPorts,
  schema: VariableSchema,
  options: { maxRows?: number } = {},
): Promise<ImportOutcome> {
  try {
    await validateCsv(
      await ports.open(),
      schema,
      { onProgress: () => ports.heartbeat() },
      { maxRows: options.maxRows },
    );
  } catch (error) {
    if (error instanceof CsvFileError)
      return { ok: false, error: { code: 'ERR_BAD_REQUEST', message: error.message } };
    throw error;
  }
  const rejections: Rejection[] = [];
  const totals = await validateCsv(
    await ports.open(),
    schema,
    {
      onBatch: (batch) => ports.writeBatch(batch),
      onRejection: (rejection) => {
        if (rejections.length < REJECTIONS_KEPT) rejections.push(rejection);
        return ports.addRejection(rejection);
      },
      onProgress: (progress) => ports.progress(progress),
    },
    { maxRows: options.maxRows },
  );
  await ports.flush();
  return { ok: true, totals, rejections };
}
