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
import type { ErrorCode } from '#shared/errors.ts';
import { type CsvDetected, CsvFileError } from './csv-stream.ts';
import { type ValidationTotals, type ValidRecipient, validateCsv } from './csv-validate.ts';
import type { Rejection, VariableSchema } from './model.ts';

/**
 * The upload record keeps the file's first rejections, at most `REJECTIONS_KEPT` of them
 * and at most `REJECTIONS_KEPT_BYTES` of user ids and reasons (UTF-8) together, so the
 * record stays far under DynamoDB's 400 KB item limit whatever the rows hold; every
 * rejection goes to the report.
 */
export const REJECTIONS_KEPT = 100;
export const REJECTIONS_KEPT_BYTES = 64 * 1024;

/** What a rejection costs of `REJECTIONS_KEPT_BYTES`. */
export function rejectionBytes(rejection: Rejection): number {
  return Buffer.byteLength(rejection.userId, 'utf8') + Buffer.byteLength(rejection.reason, 'utf8');
}

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
  | { ok: true; totals: ValidationTotals; rejections: Rejection[]; detected: CsvDetected }
  /** A file-level error (`CsvFileError`), with its public code: the upload fails with it. */
  | { ok: false; error: { code: ErrorCode; message: string } };

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
      return { ok: false, error: { code: error.code, message: error.message } };
    throw error;
  }
  const rejections: Rejection[] = [];
  // Once one rejection does not fit, none after it is kept: the record holds a prefix of the file's.
  let keeping = true;
  let keptBytes = 0;
  let detected: CsvDetected | undefined;
  const totals = await validateCsv(
    await ports.open(),
    schema,
    {
      onBatch: (batch) => ports.writeBatch(batch),
      onRejection: (rejection) => {
        if (keeping) {
          const bytes = rejectionBytes(rejection);
          keeping = rejections.length < REJECTIONS_KEPT && keptBytes + bytes <= REJECTIONS_KEPT_BYTES;
          if (keeping) {
            rejections.push(rejection);
            keptBytes += bytes;
          }
        }
        return ports.addRejection(rejection);
      },
      onProgress: (progress) => ports.progress(progress),
      onDetected: (found) => {
        detected = found;
      },
    },
    { maxRows: options.maxRows },
  );
  await ports.flush();
  return { ok: true, totals, rejections, detected: detected as CsvDetected };
}
