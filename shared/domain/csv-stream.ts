/**
 * Reading a CSV upload as a stream of records, on `csv-parser` (raw arrays,
 * `headers: false`, so a row with too many or too few fields stays visible).
 *
 * File-level checks (docs/csv.md), each a `CsvFileError`:
 *
 * - encoding: strict UTF-8 (a streaming, fatal `TextDecoder` over every byte); a UTF-8
 *   BOM is dropped; a UTF-16 BOM, NUL bytes or invalid UTF-8 anywhere fail the file, and
 *   so does a gzip or ZIP (.xlsx) file, named as such by its first bytes.
 *   Byte positions in messages are 1-based offsets in the file as uploaded.
 * - empty: no bytes, or only spaces, tabs and line breaks (a UTF-8 BOM alone included).
 *   A header with no data rows is a valid file with zero rows.
 * - delimiter: a one-column header holding `;` or a tab.
 * - line breaks: LF or CRLF; a header holding a CR (CR-only line breaks) fails.
 * - rows: more than `maxRows` (default 100,000) data rows fail, when row `maxRows + 1`
 *   is read (so the whole file must be read to know it: the importer's validating pass).
 * - quotes: RFC 4180. A `"` that opens a quoted field and is never closed makes the rest
 *   of the file one record; at the end of the file that is a `CsvFileError` naming the
 *   line it starts on (rather than a silently swallowed tail), and a record longer than
 *   `MAX_RECORD_BYTES` fails as soon as it is that long (memory stays bounded). A stray
 *   `"` inside an unquoted field that runs the field over following lines fails too.
 *
 * Row numbers are physical line numbers (the header's first line is 1); a record whose
 * quoted fields hold line breaks spans several lines and is numbered by its first.
 * Blank lines (empty, or only a CR) are skipped, are not data rows, and still count as
 * lines.
 *
 * Reading is pull-based: a source chunk is read and checked only when the consumer asks
 * for more rows than are already parsed, and parsed in `PARSE_SLICE_BYTES` pieces, each
 * piece's rows handed on before the next is parsed; memory holds one source chunk and
 * one piece's rows, never the file. A record longer than a piece is gathered in pieces
 * that double (`RecordSource.holds`), so it costs linear, not quadratic, copies.
 */
import csvParser from 'csv-parser';
import { MAX_DATA_ROWS } from '#shared/domain/csv-rules.ts';
import { InvalidInputError } from '#shared/errors.ts';

export type LineEndings = 'LF' | 'CRLF' | 'mixed' | 'none';

/**
 * What the file-level checks found of a file's form, once it has been read to its end
 * (a dry run's `detected`). A file that passed them is UTF-8 and comma-delimited: other
 * encodings and delimiters fail the file, so those two are what it is, not guesses.
 */
export interface CsvDetected {
  encoding: 'UTF-8';
  /** Whether it starts with a UTF-8 byte order mark (dropped from the header). */
  bom: boolean;
  /** Its line breaks; `mixed` when both LF and CRLF occur, `none` for a file of one line. */
  lineEndings: LineEndings;
  delimiter: ',';
  /** Data rows read (blank lines are not rows). */
  rows: number;
}

/** A file-level problem (encoding, delimiter, empty, header, too many rows). The whole upload fails; nothing is added. */
export class CsvFileError extends InvalidInputError {}

export interface CsvRow {
  /** Physical line number of the record's first line, the header being 1. */
  row: number;
  fields: string[];
}

export interface CsvReader {
  /** The header's names as read (a UTF-8 BOM dropped). */
  header: string[];
  /**
   * The data records, blank lines skipped; iterate once. Throws `CsvFileError` mid-stream
   * (invalid UTF-8 later in the file, more than `maxRows` rows). Breaking out of the loop
   * (or calling the iterator's `return()`) closes the source.
   */
  rows: AsyncIterable<CsvRow>;
}

/** A record (one row, however many lines) longer than this fails the file. */
export const MAX_RECORD_BYTES = 1024 * 1024;

const EMPTY = Buffer.alloc(0);
const notUtf8 = (byte: number) =>
  new CsvFileError(
    `The file is not valid UTF-8 text (first invalid byte near byte ${byte}); save it as UTF-8 (in Excel: "CSV UTF-8").`,
    { byte },
  );

/** Index of the first byte of the first invalid or truncated UTF-8 sequence, or -1. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    } else return i;
    if (i + n >= b.length) return i;
    const d = b[i + 1] as number;
    if (d < lo || d > hi) return i;
    for (let k = 2; k <= n; k++) if (((b[i + k] as number) & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return -1;
}

/** The trailing bytes of `b` that start a UTF-8 sequence it does not complete. */
function incompleteSuffix(b: Uint8Array): Uint8Array {
  for (let j = Math.max(0, b.length - 3); j < b.length; j++) {
    const c = b[j] as number;
    const n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    if (n > 0 && j + n >= b.length) return b.subarray(j);
  }
  return EMPTY;
}

function isBlankByte(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The byte-level checks, chunk by chunk; hands back the bytes to parse. */
class ByteChecker {
  /** File bytes checked so far. */
  private offset = 0;
  private started = false;
  private head: Uint8Array | undefined;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private tail: Uint8Array = EMPTY;
  private sawContent = false;
  /** What the checks saw of the file's form (`detected`). */
  bom = false;
  private sawLf = false;
  private sawCrLf = false;
  /** The last byte checked, for a CRLF split across chunks. */
  private lastByte = -1;

  /** The bytes of `chunk` to parse (maybe none yet: the first 3 bytes are held for the BOM check). */
  push(chunk: Uint8Array): Buffer {
    if (this.started) return this.scan(chunk);
    const head = this.head === undefined ? chunk : Buffer.concat([this.head, chunk]);
    if (head.length < 3) {
      this.head = head;
      return EMPTY;
    }
    this.head = undefined;
    return this.start(head);
  }

  /** The last bytes to parse; throws when the file ends mid-character or is empty. */
  end(): Buffer {
    const out = this.started ? EMPTY : this.start(this.head ?? EMPTY);
    try {
      this.decoder.decode();
    } catch {
      throw notUtf8(this.offset - incompleteSuffix(this.tail).length + 1);
    }
    if (!this.sawContent) {
      throw new CsvFileError(
        'The file is empty; upload a CSV with a header row (user_id and variable columns) and one row per recipient.',
      );
    }
    return out;
  }

  private start(head: Uint8Array): Buffer {
    this.started = true;
    if (head[0] === 0xff && head[1] === 0xfe) throw utf16('LE', 'FF FE');
    if (head[0] === 0xfe && head[1] === 0xff) throw utf16('BE', 'FE FF');
    if (head[0] === 0x1f && head[1] === 0x8b) {
      throw new CsvFileError(
        'The file is gzip-compressed (it starts with 1F 8B); decompress it and upload the CSV text.',
      );
    }
    if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03) {
      throw new CsvFileError(
        'The file is a ZIP archive (it starts with PK), such as an Excel .xlsx workbook; save it as "CSV UTF-8" and upload that.',
      );
    }
    if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) {
      this.bom = true;
      this.offset = 3;
      return this.scan(head.subarray(3));
    }
    return this.scan(head);
  }

  /** The file's line breaks: LF, CRLF, both, or none (one line). */
  lineEndings(): LineEndings {
    if (this.sawLf && this.sawCrLf) return 'mixed';
    if (this.sawCrLf) return 'CRLF';
    return this.sawLf ? 'LF' : 'none';
  }

  /** Notes whether the LFs of `chunk` follow a CR (one `indexOf` per line; stops once both kinds are seen). */
  private noteLineBreaks(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (!(this.sawLf && this.sawCrLf)) {
      let i = chunk.indexOf(0x0a);
      while (i !== -1) {
        const before = i === 0 ? this.lastByte : (chunk[i - 1] as number);
        if (before === 0x0d) this.sawCrLf = true;
        else this.sawLf = true;
        if (this.sawLf && this.sawCrLf) break;
        i = chunk.indexOf(0x0a, i + 1);
      }
    }
    this.lastByte = chunk[chunk.length - 1] as number;
  }

  private scan(chunk: Uint8Array): Buffer {
    const base = this.offset;
    const nul = chunk.indexOf(0);
    if (nul !== -1) {
      throw new CsvFileError(
        `The file contains NUL bytes (first at byte ${base + nul + 1}): it is binary content or UTF-16 text, not a UTF-8 CSV; save it as UTF-8 CSV.`,
        { byte: base + nul + 1 },
      );
    }
    try {
      this.decoder.decode(chunk, { stream: true });
    } catch {
      const carry = incompleteSuffix(this.tail);
      const at = firstInvalidUtf8(carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk);
      throw notUtf8((at === -1 ? base : base - carry.length + at) + 1);
    }
    if (!this.sawContent) {
      for (let i = 0; i < chunk.length; i++) {
        if (!isBlankByte(chunk[i] as number)) {
          this.sawContent = true;
          break;
        }
      }
    }
    this.noteLineBreaks(chunk);
    this.tail = chunk.length >= 3 ? chunk.subarray(chunk.length - 3) : Buffer.concat([this.tail, chunk]);
    this.offset += chunk.length;
    // A copy: csv-parser unescapes `""` in place, and the caller's bytes stay untouched.
    return Buffer.from(chunk);
  }
}

function utf16(order: 'LE' | 'BE', bom: string): CsvFileError {
  return new CsvFileError(
    `The file is UTF-16 ${order} text (it starts with the byte order mark ${bom}); save it as UTF-8 (in Excel: "CSV UTF-8").`,
  );
}

/** A csv-parser record with `headers: false`: fields keyed `0`, `1`, ... */
type ParsedRecord = Record<number, string | undefined>;

/** Counts LF characters in a string. */
function lineBreaks(value: string): number {
  let n = 0;
  let i = value.indexOf('\n');
  while (i !== -1) {
    n++;
    i = value.indexOf('\n', i + 1);
  }
  return n;
}

/**
 * csv-parser is a `Transform`; these are the implementer hooks it defines. `RecordSource`
 * calls them directly, with `push` collecting the records: parsing a chunk is then one
 * synchronous call, without the per-record event and buffer bookkeeping of a stream
 * (measured: that bookkeeping alone cost more than the 40% docs/design.md allows over bare
 * csv-parser). csv-parser's `_transform` and `_flush` call back synchronously.
 *
 * csv-parser 3.x turns each record's cells array into an object in `writeRow(cells)`
 * before `push`; where that method exists it is replaced to take the array as it is
 * (no object built, none taken apart again). Without it, `push` gets the objects.
 * Every test of this module runs through this path, so a csv-parser upgrade that
 * changes it shows there.
 */
interface ParserCore {
  _transform(chunk: Buffer, encoding: string, callback: (error?: Error | null) => void): void;
  _flush(callback: (error?: Error | null) => void): void;
  push(record: ParsedRecord): boolean;
  writeRow?: (cells: string[], byteOffset: number) => void;
  parseCell?: (buffer: Buffer, start: number, end: number) => unknown;
  /** csv-parser's running state; `quoted` is true inside an open quoted field. */
  state?: { quoted?: unknown; previousEnd?: number };
  /** The bytes csv-parser keeps of a record it has not finished; concatenated with every piece it gets. */
  _prev?: Buffer | null;
}

/**
 * Bytes are handed to csv-parser in pieces of this size (views, not copies), and the rows
 * of each piece are handed on before the next is parsed: fewer rows alive at a time,
 * which measurably eases garbage collection on large files.
 */
const PARSE_SLICE_BYTES = 16 * 1024;

/** Drives one csv-parser over a source, piece by piece, on demand. */
class RecordSource {
  header: string[] | undefined;
  private readonly parser: ParserCore;
  private readonly checker = new ByteChecker();
  private readonly iterator: AsyncIterator<Uint8Array>;
  private readonly maxRows: number;
  /** Rows parsed and not yet handed on. */
  private rows: CsvRow[] = [];
  /** Checked bytes not yet parsed, from `inputAt`. */
  private input: Buffer | undefined;
  private inputAt = 0;
  private parserError: Error | undefined;
  private ended = false;
  private closed = false;
  /** Physical line number of the next record, and of the last one parsed. */
  private line = 1;
  private lastLine = 1;
  private dataRows = 0;
  /** Whether a '"' byte was seen: until one is, no field can hold a line break. */
  private sawQuote = false;
  /** Set by the `parseCell` wrapper: a cell with a line break that is not a quoted field. */
  private strayQuote = false;
  /** Line breaks in the cells of the record being parsed, counted by the `parseCell` wrapper. */
  private cellBreaks = 0;
  private countsCells = false;
  /** Checked source chunks held back while a long record is pending (see `holds`). */
  private held: Buffer[] = [];
  private heldBytes = 0;

  constructor(source: AsyncIterable<Uint8Array>, maxRows: number) {
    this.iterator = source[Symbol.asyncIterator]();
    this.maxRows = maxRows;
    this.parser = csvParser({ headers: false, maxRowBytes: MAX_RECORD_BYTES }) as unknown as ParserCore;
    this.parser.push = (record: ParsedRecord) => {
      const fields: string[] = [];
      for (let i = 0; ; i++) {
        const field = record[i];
        if (field === undefined) break;
        fields.push(field);
      }
      this.add(fields);
      return true;
    };
    if (typeof this.parser.writeRow === 'function') {
      this.parser.writeRow = (cells: string[]) => this.add(cells);
    }
  }

  /** What the checks found; complete once `next()` has answered null. */
  detected(): CsvDetected {
    return {
      encoding: 'UTF-8',
      bom: this.checker.bom,
      lineEndings: this.checker.lineEndings(),
      delimiter: ',',
      rows: this.dataRows,
    };
  }

  /** The next data rows (maybe an empty array), or null at the end of the file. */
  async next(): Promise<CsvRow[] | null> {
    try {
      for (;;) {
        if (this.parserError !== undefined) this.failParse();
        if (this.rows.length > 0) {
          const rows = this.rows;
          this.rows = [];
          return rows;
        }
        if (this.input !== undefined) {
          this.parseSlice();
          continue;
        }
        if (this.ended) {
          await this.close();
          return null;
        }
        const step = await this.iterator.next();
        if (step.done) {
          const last = this.release(this.checker.end());
          if (last.length > 0) {
            if (!this.sawQuote && last.indexOf(0x22) !== -1) this.noteQuote();
            this.parser._transform(last, 'buffer', this.onParsed);
          }
          if (this.parserError === undefined) this.parser._flush(this.onParsed);
          this.ended = true;
          // csv-parser's own quote state: odd quotes in the last record mean an unclosed one.
          if (this.parserError === undefined && this.parser.state?.quoted === true) {
            const row = this.lastLine;
            throw new CsvFileError(
              `Line ${row} opens a quoted field ('"') that is never closed, so the rest of the file would be one value; close the quote, and write a '"' inside a quoted value as '""'.`,
              { row },
            );
          }
        } else {
          const bytes = this.checker.push(step.value);
          if (bytes.length > 0) {
            if (!this.sawQuote && bytes.indexOf(0x22) !== -1) this.noteQuote();
            if (this.holds(bytes)) continue;
            this.input = this.release(bytes);
            this.inputAt = 0;
          }
        }
      }
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.rows = [];
    this.input = undefined;
    this.held = [];
    try {
      await this.iterator.return?.();
    } catch {
      // Closing a source that already failed can fail again; the first error is the one to report.
    }
  }

  private readonly onParsed = (error?: Error | null) => {
    if (error) this.parserError ??= error;
  };

  /** Bytes csv-parser keeps of the record it has not finished (0 if its internals are not visible). */
  private pending(): number {
    const prev = this.parser._prev;
    if (!prev) return 0;
    // `_prev` may be the whole last piece, the unfinished record starting at `previousEnd`.
    const start = this.parser.state?.previousEnd;
    return typeof start === 'number' && start > 0 && start <= prev.length ? prev.length - start : prev.length;
  }

  /**
   * csv-parser concatenates the bytes it keeps of an unfinished record with every piece it
   * is given, so a long record (a 10 MiB line, an unclosed quote) fed in small pieces costs
   * copies quadratic in its length: up to 32 MiB of garbage for one 1 MiB record in 16 KiB
   * pieces. While a record of more than a piece is pending, source chunks are held back
   * until there are as many bytes as it already has (and pieces are as large), so the
   * record at least doubles at each concatenation: linear copies, and at most
   * `MAX_RECORD_BYTES` held.
   */
  private holds(bytes: Buffer): boolean {
    const pending = this.pending();
    if (pending < PARSE_SLICE_BYTES || this.heldBytes + bytes.length >= pending) return false;
    this.held.push(bytes);
    this.heldBytes += bytes.length;
    return true;
  }

  /** `bytes` after the held ones, which are released. */
  private release(bytes: Buffer): Buffer {
    if (this.held.length === 0) return bytes;
    const all = Buffer.concat([...this.held, bytes]);
    this.held = [];
    this.heldBytes = 0;
    return all;
  }

  private parseSlice(): void {
    const input = this.input as Buffer;
    // As large as the pending record (see `holds`).
    const end = Math.min(input.length, this.inputAt + Math.max(PARSE_SLICE_BYTES, this.pending()));
    const slice = this.inputAt === 0 && end === input.length ? input : input.subarray(this.inputAt, end);
    this.inputAt = end;
    if (end === input.length) this.input = undefined;
    this.parser._transform(slice, 'buffer', this.onParsed);
  }

  private failParse(): never {
    const row = this.line;
    throw new CsvFileError(
      `A record starting on line ${row} is longer than ${MAX_RECORD_BYTES / 1024 / 1024} MiB; usually a '"' opens a quoted field that is never closed. Close the quote, and write a '"' inside a quoted value as '""'.`,
      { row },
    );
  }

  /**
   * The first '"' of the file: from here on fields may hold line breaks, and csv-parser's
   * `parseCell` is wrapped to catch a line break in a cell that does not start with '"'.
   * That is a stray quote in an unquoted field (`5'11"`, not RFC 4180), which csv-parser
   * reads as opening a quoted span to the next '"', running the lines between into one
   * value; without the check those rows would silently vanish into it. (Only from the
   * first '"' on, so a file without quotes pays nothing.)
   */
  private noteQuote(): void {
    this.sawQuote = true;
    const original = this.parser.parseCell;
    if (typeof original !== 'function') return;
    const parser = this.parser;
    this.countsCells = true;
    parser.parseCell = (buffer: Buffer, start: number, end: number) => {
      const quoted = buffer[start] === 0x22;
      const value = original.call(parser, buffer, start, end);
      if (typeof value === 'string' && value.indexOf('\n') !== -1) {
        this.cellBreaks += lineBreaks(value);
        if (!quoted) this.strayQuote = true;
      }
      return value;
    };
  }

  /** One record's cells from csv-parser: numbered, then the header, skipped (blank) or a data row. */
  private add(fields: string[]): void {
    const row = this.line;
    let lines = 1;
    // A line break inside a field needs quotes (csv-parser ends a record at any other).
    if (this.countsCells) {
      lines += this.cellBreaks;
      this.cellBreaks = 0;
    } else if (this.sawQuote) {
      for (let i = 0; i < fields.length; i++) {
        const field = fields[i] as string;
        if (field.indexOf('\n') !== -1) lines += lineBreaks(field);
      }
    }
    this.lastLine = row;
    this.line += lines;
    if (this.strayQuote) {
      throw new CsvFileError(
        `Line ${row} has a '"' inside a field that does not start with '"' (not RFC 4180 CSV), which runs the field on over the following lines; put the whole field in quotes and write each '"' inside it as '""'.`,
        { row },
      );
    }
    if (fields.length === 0) return;
    if (this.header === undefined) {
      this.header = checkedHeader(fields);
      return;
    }
    if (++this.dataRows > this.maxRows) {
      throw new CsvFileError(
        `The file has more than ${this.maxRows.toLocaleString('en-US')} data rows (row ${this.dataRows.toLocaleString('en-US')} is on line ${row}); split it into files of at most ${this.maxRows.toLocaleString('en-US')} rows.`,
        { maxRows: this.maxRows },
      );
    }
    this.rows.push({ row, fields });
  }
}

/** The file-level checks that only the header record shows. */
function checkedHeader(fields: string[]): string[] {
  if (fields.some((name) => name.includes('\r'))) {
    throw new CsvFileError(
      'The file uses CR-only line breaks (old Mac format); save it with LF or CRLF line breaks.',
    );
  }
  if (fields.length === 1) {
    const only = fields[0] as string;
    const semicolon = only.indexOf(';');
    const tab = only.indexOf('\t');
    if (semicolon !== -1 || tab !== -1) {
      const used = tab === -1 || (semicolon !== -1 && semicolon < tab) ? "';'" : 'tab';
      throw new CsvFileError(
        `The header uses ${used} as the delimiter; use commas (in Excel: save as "CSV UTF-8 (comma delimited)").`,
        { delimiter: used === 'tab' ? '\t' : ';' },
      );
    }
  }
  return fields;
}

/** `openCsv`'s reader with the rows in batches (one source chunk's rows at a time). */
export interface CsvBatchReader {
  header: string[];
  /** Arrays of data rows (never empty), in file order; same errors and closing as `CsvReader.rows`. */
  batches: AsyncIterable<CsvRow[]>;
  /** What the file-level checks found of the file's form; complete once `batches` has ended. */
  detected(): CsvDetected;
}

/**
 * `openCsv` with the rows handed out per parsed chunk rather than one by one: one await
 * per chunk instead of per row, for consumers in a hot loop (`validateCsv`).
 */
export async function openCsvBatches(
  source: AsyncIterable<Uint8Array>,
  options: { maxRows?: number } = {},
): Promise<CsvBatchReader> {
  const records = new RecordSource(source, options.maxRows ?? MAX_DATA_ROWS);
  let pending: CsvRow[] = [];
  while (records.header === undefined) {
    const rows = await records.next();
    if (rows === null) break;
    pending = rows;
  }
  const header = records.header;
  if (header === undefined) {
    // Unreachable: a file with content has a first record. Kept as a file error all the same.
    throw new CsvFileError('The file has no header row; the first line must name the columns.');
  }

  const batches: AsyncIterable<CsvRow[]> = {
    [Symbol.asyncIterator](): AsyncIterator<CsvRow[]> {
      let first: CsvRow[] | undefined = pending;
      return {
        async next(): Promise<IteratorResult<CsvRow[]>> {
          if (first !== undefined && first.length > 0) {
            const rows = first;
            first = undefined;
            return { done: false, value: rows };
          }
          first = undefined;
          for (;;) {
            const rows = await records.next();
            if (rows === null) return { done: true, value: undefined };
            if (rows.length > 0) return { done: false, value: rows };
          }
        },
        async return(): Promise<IteratorResult<CsvRow[]>> {
          await records.close();
          return { done: true, value: undefined };
        },
      };
    },
  };
  return { header, batches, detected: () => records.detected() };
}

/**
 * Reads the header (checking encoding, emptiness and delimiter on the way), then lazily
 * the rows, pull-based: a chunk of `source` is read only when the consumer wants more.
 * Throws `CsvFileError` for a file-level problem; errors of `source` itself pass through.
 */
export async function openCsv(
  source: AsyncIterable<Uint8Array>,
  options: { maxRows?: number } = {},
): Promise<CsvReader> {
  const { header, batches } = await openCsvBatches(source, options);
  const rows: AsyncIterable<CsvRow> = {
    [Symbol.asyncIterator](): AsyncIterator<CsvRow> {
      const inner = batches[Symbol.asyncIterator]();
      let batch: CsvRow[] = [];
      let i = 0;
      return {
        async next(): Promise<IteratorResult<CsvRow>> {
          while (i >= batch.length) {
            const more = await inner.next();
            if (more.done === true) return { done: true, value: undefined };
            batch = more.value;
            i = 0;
          }
          return { done: false, value: batch[i++] as CsvRow };
        },
        async return(): Promise<IteratorResult<CsvRow>> {
          await inner.return?.();
          return { done: true, value: undefined };
        },
      };
    },
  };
  return { header, rows };
}

/** Size of the pieces `readCsvHeader` feeds the parser. */
const HEADER_CHUNK_BYTES = 64 * 1024;

/**
 * The header of a whole small file in memory (the direct upload's check before it is
 * stored). The encoding checks run over every byte of `file` (cheap, and a file that is
 * not UTF-8 is refused before it is stored); parsing stops after the header. `file` is
 * not modified.
 */
export async function readCsvHeader(file: Uint8Array): Promise<string[]> {
  const whole = new ByteChecker();
  whole.push(file);
  whole.end();
  async function* pieces(): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < file.length; at += HEADER_CHUNK_BYTES) {
      yield file.subarray(at, at + HEADER_CHUNK_BYTES);
    }
  }
  const reader = await openCsv(pieces());
  await reader.rows[Symbol.asyncIterator]().return?.();
  return reader.header;
}
