/**
 * The CSV of a campaign's recipients (docs/api.md, "Exporting recipients"), as pure
 * functions: the columns, one line per recipient, and the bounded collection of an
 * inline answer. Reading the recipients is `shared/adapters/recipients-export.ts`.
 *
 * Columns: `user_id`, the template's variables in schema order, `status`, `error`. Every
 * cell is neutralised against formula injection with the reversible rule of
 * `neutralizeFormula` (numbers too: `-2` is written `'-2`), and quoted per RFC 4180 when
 * it holds a comma, quote, CR or LF; lines end with CRLF. The importer reverses the rule
 * (`unneutralizeCell`) and ignores `status` and `error`, so the file uploads back as it
 * is to a campaign on the same template, with the same recipients and variables.
 */
import { EXPORT_COLUMNS, neutralizeFormula } from '#shared/domain/csv-rules.ts';
import {
  RECIPIENT_STATUSES,
  type RecipientStatus,
  type VariableSchema,
  type VariableValue,
} from '#shared/domain/model.ts';
import { InvalidInputError } from '#shared/errors.ts';

/** What a line needs of a recipient. */
export interface ExportedRecipient {
  userId: string;
  status: RecipientStatus;
  variables?: Record<string, VariableValue>;
  error?: string;
}

const NEEDS_QUOTES = /[",\r\n]/;

/** One cell: neutralised, then quoted when it must be. */
export function exportCell(value: VariableValue | undefined): string {
  if (value === undefined) return '';
  const text = neutralizeFormula(typeof value === 'string' ? value : String(value));
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The variable columns of an export: the schema's keys, in its order. */
export function exportKeys(schema: VariableSchema): string[] {
  return Object.keys(schema);
}

/** The header line: `user_id,<variables…>,status,error` and CRLF. */
export function exportHeader(keys: readonly string[]): string {
  return `${['user_id', ...keys, ...EXPORT_COLUMNS].map((name) => exportCell(name)).join(',')}\r\n`;
}

/** One recipient's line; a variable it does not have is an empty cell. */
export function exportLine(keys: readonly string[], recipient: ExportedRecipient): string {
  const variables = recipient.variables ?? {};
  let line = exportCell(recipient.userId);
  for (const key of keys)
    line += `,${exportCell(Object.hasOwn(variables, key) ? variables[key] : undefined)}`;
  return `${line},${exportCell(recipient.status)},${exportCell(recipient.error)}\r\n`;
}

/**
 * Bytes a string takes in a Lambda proxy response: its UTF-8 length once escaped as a
 * JSON string (quotes, backslashes and control characters grow), which is what Lambda's
 * 6 MB response limit counts.
 */
export function jsonEscapedBytes(text: string): number {
  return Buffer.byteLength(JSON.stringify(text), 'utf8') - 2;
}

export type InlineExport = { fits: true; csv: string; rows: number } | { fits: false; rows: number };

/**
 * Collects the header and lines of `lines` (the first item is the header) while they
 * fit `maxBytes` (counted by `jsonEscapedBytes`) and `maxRows` data rows. As soon as one
 * does not, it stops reading (`lines` is closed, so no further page is fetched) and
 * answers `fits: false`: memory never holds more than the bound and one line.
 */
export async function collectInline(
  lines: AsyncIterable<string>,
  bounds: { maxBytes: number; maxRows: number },
): Promise<InlineExport> {
  const parts: string[] = [];
  let bytes = 0;
  let rows = -1;
  for await (const line of lines) {
    rows += 1;
    bytes += jsonEscapedBytes(line);
    // Leaving the loop closes the iterator (its `return`), which stops the reads.
    if (rows > bounds.maxRows || bytes > bounds.maxBytes) return { fits: false, rows };
    parts.push(line);
  }
  return { fits: true, csv: parts.join(''), rows: Math.max(rows, 0) };
}

/** `?status=` of an export: a recipient status, or an `InvalidInputError` naming the field and the valid ones. */
export function parseExportStatus(value: string | undefined): RecipientStatus | undefined {
  if (value === undefined) return undefined;
  if ((RECIPIENT_STATUSES as readonly string[]).includes(value)) return value as RecipientStatus;
  throw new InvalidInputError(
    `status '${value}' is not a recipient status; use one of ${RECIPIENT_STATUSES.join(', ')}, or omit it to export every recipient.`,
    { field: 'status', allowed: RECIPIENT_STATUSES },
  );
}

/** The file name offered for an export: `<campaignId>-recipients[-<status>].csv`. */
export function exportFileName(campaignId: string, status: RecipientStatus | undefined): string {
  return `${campaignId}-recipients${status ? `-${status}` : ''}.csv`;
}
