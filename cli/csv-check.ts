/**
 * `campaigns csv check`: a local file checked by the importer's own code. It runs
 * `importUpload` (shared/domain/import-upload.ts) — the validating pass and then the
 * rejection-reporting pass the S3-triggered importer runs — with ports that read the local
 * file and write nothing. So the file-level error, the rejected rows (row, user id, reason)
 * and the counts are the ones an upload of the same file to a campaign with the same
 * template would report.
 */
import { createReadStream } from 'node:fs';
import { importUpload } from '#shared/domain/import-upload.ts';
import type { Rejection, VariableSchema } from '#shared/domain/model.ts';

export interface CsvCheckResult {
  ok: boolean;
  /** A file-level problem: the whole upload would fail and add nobody. */
  error?: { code: string; message: string };
  rowsRead: number;
  /** Rows the import would add. */
  valid: number;
  rejected: number;
  duplicates: number;
  /** Every rejected row, in file order. */
  rejections: Rejection[];
}

export async function checkCsvFile(file: string, schema: VariableSchema): Promise<CsvCheckResult> {
  const rejections: Rejection[] = [];
  const nothing = async () => undefined;
  const outcome = await importUpload(
    {
      open: async () => createReadStream(file) as AsyncIterable<Uint8Array>,
      writeBatch: nothing,
      flush: nothing,
      progress: nothing,
      heartbeat: nothing,
      addRejection: (rejection) => {
        rejections.push(rejection);
      },
    },
    schema,
  );
  if (!outcome.ok) {
    return {
      ok: false,
      error: outcome.error,
      rowsRead: 0,
      valid: 0,
      rejected: 0,
      duplicates: 0,
      rejections: [],
    };
  }
  const { totals } = outcome;
  return {
    ok: totals.rejected === 0,
    rowsRead: totals.rowsRead,
    valid: totals.valid,
    rejected: totals.rejected,
    duplicates: totals.duplicates,
    rejections,
  };
}
