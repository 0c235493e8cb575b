/**
 * Reading a CSV upload as a stream of records, on `csv-parser` used through its public
 * interface: whole records are written to it, its options hand each row's fields over as
 * an array (`mapHeaders`, `mapValues`), and its events say when the header and each row
 * are complete (`headers`, `data`, `error`, `end`). Two pre-passes of ours read the bytes
 * before it: `ByteChecker` (encoding, emptiness, line breaks) and `RecordSplitter`
 * (where records end, record size, stray quotes, blank lines and CRs before the header).
 *
 * File-level checks (docs/csv.md), each a `CsvFileError`:
 *
 * - encoding: strict UTF-8 over every byte (`isUtf8`, a character cut by a chunk's end
 *   checked with the next); a UTF-8 BOM is dropped; a UTF-16 BOM, NUL bytes or invalid
 *   UTF-8 anywhere fail the file, and so does a gzip or ZIP (.xlsx) file, named as such
 *   by its first bytes. Byte positions in messages are 1-based offsets in the file as
 *   uploaded.
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
 * lines. A row with too many or too few fields is kept as read, for the row check.
 *
 * Reading is pull-based: a source chunk is read and checked only when the consumer asks
 * for more rows than are already parsed, and written to csv-parser in pieces of about
 * `PARSE_SLICE_BYTES`, each piece's rows handed on before the next is written; memory
 * holds one source chunk and one piece's rows, never the file. A record longer than a
 * piece is gathered by the splitter and handed on once, when it ends, so it costs linear,
 * not quadratic, copies.
 */
import { isUtf8 } from 'node:buffer';
import type { Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
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
const CRLF = Buffer.from('\r\n');
const notUtf8 = (byte: number) =>
  new CsvFileError(
    `The file is not valid UTF-8 text (first invalid byte near byte ${byte}); save it as UTF-8 (in Excel: "CSV UTF-8").`,
    { byte },
  );

/**
 * Index of the first byte of the first invalid or truncated UTF-8 sequence, or -1. With
 * `truncatedOk`, a sequence that `b` ends in the middle of is not one, if it is valid so far.
 */
function firstInvalidUtf8(b: Uint8Array, truncatedOk = false): number {
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
    const last = Math.min(i + n, b.length - 1);
    if (last > i) {
      const d = b[i + 1] as number;
      if (d < lo || d > hi) return i;
    }
    for (let k = i + 2; k <= last; k++) if (((b[k] as number) & 0xc0) !== 0x80) return i;
    if (i + n >= b.length) return truncatedOk ? -1 : i;
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
  /** The bytes of a UTF-8 sequence the bytes checked so far end in the middle of. */
  private carry: Uint8Array = EMPTY;
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
    if (this.carry.length > 0) throw notUtf8(this.offset - this.carry.length + 1);
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

  /**
   * Notes whether `chunk` has a CRLF (one native search) and a LF without a CR before it
   * (one `indexOf` per line until one is found: all of them in a CRLF-only file).
   */
  private noteLineBreaks(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (!this.sawCrLf && ((this.lastByte === 0x0d && chunk[0] === 0x0a) || chunk.indexOf(CRLF) !== -1)) {
      this.sawCrLf = true;
    }
    if (!this.sawLf) {
      let i = chunk.indexOf(0x0a);
      while (i !== -1) {
        if ((i === 0 ? this.lastByte : chunk[i - 1]) !== 0x0d) {
          this.sawLf = true;
          break;
        }
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
    // A copy (csv-parser unescapes `""` in place, and the caller's bytes stay untouched),
    // after the bytes of a character the last chunk ended in the middle of.
    const carry = this.carry;
    const text = Buffer.allocUnsafe(carry.length + chunk.length);
    text.set(carry, 0);
    text.set(chunk, carry.length);
    // Whole characters are checked natively; one cut by the chunk's end waits for the next.
    const cut = incompleteSuffix(text);
    if (!isUtf8(text.subarray(0, text.length - cut.length)) || firstInvalidUtf8(cut, true) !== -1) {
      throw notUtf8(base - carry.length + firstInvalidUtf8(text) + 1);
    }
    this.carry = cut.length > 0 ? Buffer.from(cut) : EMPTY;
    const bytes = text.subarray(carry.length);
    if (!this.sawContent) {
      for (let i = 0; i < bytes.length; i++) {
        if (!isBlankByte(bytes[i] as number)) {
          this.sawContent = true;
          break;
        }
      }
    }
    this.noteLineBreaks(bytes);
    this.offset += bytes.length;
    return bytes;
  }
}

function utf16(order: 'LE' | 'BE', bom: string): CsvFileError {
  return new CsvFileError(
    `The file is UTF-16 ${order} text (it starts with the byte order mark ${bom}); save it as UTF-8 (in Excel: "CSV UTF-8").`,
  );
}

/**
 * The CSV dialect: what csv-parser is told, and the bytes `RecordSplitter` reads by.
 * Records end at LF: csv-parser takes its line break from the header's line, which the
 * splitter has made sure holds no CR but the one of a CRLF.
 */
const DIALECT = { separator: ',', quote: '"', escape: '"' } as const;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;

/**
 * Bytes are handed to csv-parser in pieces of about this size, each ending where a record
 * ends, and the rows of each piece are handed on before the next is written: fewer rows
 * alive at a time, which measurably eases garbage collection on large files.
 */
const PARSE_SLICE_BYTES = 16 * 1024;

/**
 * The name `mapHeaders` gives the first column, the one csv-parser keeps in the rows it
 * builds (it drops the others): a row with fields has it, a blank line's row (`{}`) not.
 */
const FIRST_COLUMN = 'first';

/**
 * Whether a record (`record[0, end)`, its line break left out) has a line break in a field
 * that does not start with '"': a stray quote in an unquoted field (`5'11"`, not RFC
 * 4180), which runs the field on to the next '"' and the lines between into one value;
 * without the check those rows would silently vanish into it.
 *
 * The fields are those csv-parser makes of the record, which the values it hands out do
 * not show the start of: a ',' outside quotes ends a field; a '"' opens quotes wherever
 * it is, and inside them only a '"' followed by ',' closes them (`""` is one '"'). So
 * `say "hi" there,x` is one field to it, and a field that starts with '"' and holds an
 * unbalanced quote (`"ab"c"d`) is read as written. test/unit/csv-stream.test.ts pins this
 * reading of csv-parser's fields, so an upgrade that changes it fails there.
 */
function strayQuoteBreak(record: Buffer, end: number): boolean {
  let field = 0;
  let quoted = false;
  for (let i = 0; i < end; i++) {
    const byte = record[i];
    if (byte === QUOTE) {
      if (!quoted) quoted = true;
      else if (i + 1 < end && record[i + 1] === COMMA) quoted = false;
      else if (i + 1 < end && record[i + 1] === QUOTE) i++;
    } else if (byte === COMMA) {
      if (!quoted) field = i + 1;
    } else if (byte === LF && record[field] !== QUOTE) {
      return true;
    }
  }
  return false;
}

/** The end of a record's fields: before its line break (at `length - 1` when it has one) and a CR before that. */
function fieldsEnd(record: Buffer, length: number): number {
  return length > 0 && record[length - 1] === CR ? length - 1 : length;
}

/** Why reading stops at a record: the file-level checks the splitter makes on the bytes. */
type Stop = 'stray quote' | 'too long' | 'CR line breaks';
/** What `RecordSplitter` hands on: whole records to parse, or why reading stops at the next record. */
type Step = Buffer | Stop;

/**
 * A pre-pass over the checked bytes that finds where records end, before csv-parser sees
 * them. A record ends at a LF outside quotes, and a LF is outside quotes when an even
 * number of '"' came before it in the file (a '"' opens or closes a quoted field, and
 * `""` inside one is two of them). csv-parser ends records at the same LFs; the tests pin
 * that down (line numbers, unclosed quotes).
 *
 * Knowing the ends lets it hand csv-parser only whole records, in pieces of about
 * `PARSE_SLICE_BYTES`, and keep the unfinished record itself: a record longer than a
 * piece (a 10 MiB line, an unclosed quote) is gathered as a list of chunks and copied
 * once, when it ends, and fails as soon as it is longer than `MAX_RECORD_BYTES`, so the
 * memory held is bounded by that. Handed on in fixed pieces, csv-parser would copy the
 * pending record into every piece: copies quadratic in its length.
 *
 * On the way it keeps the blank lines before the header from csv-parser (which reads
 * its first line as the header), checks the header record for a CR, and checks a record
 * with a line break inside quotes for a stray quote (`strayQuoteBreak`) once it ends.
 *
 * Only '"' and LF are looked for, with `indexOf`: a chunk without a '"' costs a few native
 * searches, not a loop over its bytes.
 */
class RecordSplitter {
  /** An odd number of '"' so far: inside a quoted field. */
  private quoted = false;
  /** The unfinished record's bytes (views of checked chunks), and their length. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The unfinished record has a line break inside quotes. */
  private breaks = false;
  /** A line break inside quotes was seen: from here on records may span several lines. */
  sawQuotedBreak = false;
  /** No record but blank lines yet: the next record that is not blank is the header. */
  private beforeHeader = true;
  /** Blank lines before the header (kept from csv-parser; they still count as lines). */
  blankLinesBeforeHeader = 0;
  private done = false;
  /** Within the chunk being split: its first byte not yet handed on, and where the unfinished record starts. */
  private fed = 0;
  private recordStart = 0;

  /** The whole records that `chunk` completes, in order; its unfinished record is kept. */
  push(chunk: Buffer): Step[] {
    const steps: Step[] = [];
    if (this.done || chunk.length === 0) return steps;
    this.fed = 0;
    this.recordStart = 0;
    let lf = chunk.indexOf(LF);
    let quote = chunk.indexOf(QUOTE);
    for (;;) {
      if (!this.quoted) {
        if (quote === -1) break;
        while (lf !== -1 && lf < quote) {
          if (!this.recordEnds(chunk, lf, steps)) return steps;
          lf = chunk.indexOf(LF, lf + 1);
        }
      } else {
        const end = quote === -1 ? chunk.length : quote;
        if (lf !== -1 && lf < end) {
          this.breaks = true;
          this.sawQuotedBreak = true;
          lf = quote === -1 ? -1 : chunk.indexOf(LF, quote + 1);
        }
        if (quote === -1) break;
      }
      this.quoted = !this.quoted;
      quote = chunk.indexOf(QUOTE, quote + 1);
    }
    // No '"' ahead: every line break ends a record. Until the header they are looked at one by one.
    while (!this.quoted && lf !== -1 && this.beforeHeader) {
      if (!this.recordEnds(chunk, lf, steps)) return steps;
      lf = chunk.indexOf(LF, lf + 1);
    }
    if (!this.quoted && lf !== -1) {
      if (!this.recordEnds(chunk, lf, steps)) return steps;
      const last = chunk.lastIndexOf(LF);
      while (last + 1 - this.fed > PARSE_SLICE_BYTES) {
        let cut = chunk.lastIndexOf(LF, this.fed + PARSE_SLICE_BYTES - 1);
        if (cut < this.fed) cut = chunk.indexOf(LF, this.fed + PARSE_SLICE_BYTES);
        steps.push(chunk.subarray(this.fed, cut + 1));
        this.fed = cut + 1;
      }
      this.recordStart = last + 1;
    }
    if (this.recordStart > this.fed) steps.push(chunk.subarray(this.fed, this.recordStart));
    if (this.recordStart < chunk.length) {
      this.pending.push(chunk.subarray(this.recordStart));
      this.pendingBytes += chunk.length - this.recordStart;
      if (this.pendingBytes > MAX_RECORD_BYTES) {
        steps.push('too long');
        this.done = true;
      }
    }
    return steps;
  }

  /**
   * The end of the file: the unfinished record (no line break after it, maybe none), and
   * whether a quoted field in it is never closed; or why reading stops at that record.
   */
  end(): { last: Buffer; unclosed: boolean } | Stop | undefined {
    if (this.done) return undefined;
    this.done = true;
    const last = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
    this.pending = [];
    const stop = this.checked(last, fieldsEnd(last, last.length));
    return stop ?? { last, unclosed: this.quoted };
  }

  /** The record that ends at the line break `chunk[at]`; false when reading stops there. */
  private recordEnds(chunk: Buffer, at: number, steps: Step[]): boolean {
    const length = this.pendingBytes + at + 1 - this.recordStart;
    let stop: Stop | undefined;
    let record: Buffer | undefined;
    if (length > MAX_RECORD_BYTES) stop = 'too long';
    else {
      if (this.pendingBytes > 0) {
        this.pending.push(chunk.subarray(0, at + 1));
        record = Buffer.concat(this.pending);
        this.pending = [];
        this.pendingBytes = 0;
      }
      if (this.breaks || this.beforeHeader) {
        const bytes = record ?? chunk.subarray(this.recordStart, at + 1);
        if (this.beforeHeader && (length === 1 || (length === 2 && bytes[0] === CR))) {
          // A blank line (empty, or only a CR) before the header.
          this.blankLinesBeforeHeader++;
          this.fed = this.recordStart = at + 1;
          return true;
        }
        stop = this.checked(bytes, fieldsEnd(bytes, bytes.length - 1));
      }
    }
    if (stop !== undefined) {
      // The records before it are read first, so that it is numbered.
      if (this.recordStart > this.fed) steps.push(chunk.subarray(this.fed, this.recordStart));
      steps.push(stop);
      this.done = true;
      return false;
    }
    if (record !== undefined) {
      steps.push(record);
      this.fed = at + 1;
    } else if (at + 1 - this.fed >= PARSE_SLICE_BYTES) {
      steps.push(chunk.subarray(this.fed, at + 1));
      this.fed = at + 1;
    }
    this.recordStart = at + 1;
    return true;
  }

  /** The checks of a whole record's fields (`record[0, end)`): a stray quote; a CR in the header. */
  private checked(record: Buffer, end: number): Stop | undefined {
    if (this.breaks) {
      this.breaks = false;
      if (strayQuoteBreak(record, end)) return 'stray quote';
    }
    if (this.beforeHeader) {
      this.beforeHeader = false;
      // Before csv-parser reads it: on its first line a CR without a LF after it would be its line break.
      const cr = record.indexOf(CR);
      if (cr !== -1 && cr < end) return 'CR line breaks';
    }
    return undefined;
  }
}

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

function tooLong(row: number): CsvFileError {
  return new CsvFileError(
    `A record starting on line ${row} is longer than ${MAX_RECORD_BYTES / 1024 / 1024} MiB; usually a '"' opens a quoted field that is never closed. Close the quote, and write a '"' inside a quoted value as '""'.`,
    { row },
  );
}

function strayQuote(row: number): CsvFileError {
  return new CsvFileError(
    `Line ${row} has a '"' inside a field that does not start with '"' (not RFC 4180 CSV), which runs the field on over the following lines; put the whole field in quotes and write each '"' inside it as '""'.`,
    { row },
  );
}

function unclosedQuote(row: number): CsvFileError {
  return new CsvFileError(
    `Line ${row} opens a quoted field ('"') that is never closed, so the rest of the file would be one value; close the quote, and write a '"' inside a quoted value as '""'.`,
    { row },
  );
}

/**
 * Reads a source through the checks, the splitter and one csv-parser, on demand.
 *
 * csv-parser reads the header itself (its first line: the splitter keeps the blank lines
 * before it back) and builds an object per row. `mapHeaders` notes each name and drops
 * every column but the first from those objects (building them was most of csv-parser's
 * cost per row, measured); `mapValues` gets each value with its column index, so a row's
 * fields are gathered as an array, in the file's order, however many there are. The
 * `headers` and `data` events say that a record is complete: a row object with the first
 * column is the next gathered row, an empty one is a blank line. Gathered rows wait in
 * order for their `data` event, so they stay with the right record even if the stream
 * held events back.
 *
 * Pieces are written one at a time and each write's callback is awaited: it comes after
 * the piece's events. `maxRowBytes` fails a record longer than `MAX_RECORD_BYTES` within
 * a piece (the splitter, one it holds); an `error` event or a write's error is that limit.
 */
class RecordSource {
  header: string[] | undefined;
  private readonly parser: Transform;
  private readonly checker = new ByteChecker();
  private readonly splitter = new RecordSplitter();
  private readonly iterator: AsyncIterator<Uint8Array>;
  private readonly maxRows: number;
  /** Rows parsed and not yet handed on. */
  private rows: CsvRow[] = [];
  /** What the splitter handed on and is not yet written. */
  private steps: Step[] = [];
  /** The first file-level error; once set, the rest of the file is not read. */
  private failure: CsvFileError | undefined;
  private sourceEnded = false;
  private ended = false;
  private closed = false;
  /** Physical line number of the next record, once the header is read (see `nextLine`). */
  private line = 1;
  private dataRows = 0;
  /** The header's names, from `mapHeaders`. */
  private readonly headerFields: string[] = [];
  /** The fields of rows `mapValues` has seen and `data` has not yet announced, in order. */
  private readonly parsed: string[][] = [];

  constructor(source: AsyncIterable<Uint8Array>, maxRows: number) {
    this.iterator = source[Symbol.asyncIterator]();
    this.maxRows = maxRows;
    this.parser = csvParser({
      ...DIALECT,
      maxRowBytes: MAX_RECORD_BYTES,
      mapHeaders: ({ header, index }) => {
        this.headerFields[index] = header;
        return index === 0 ? FIRST_COLUMN : null;
      },
      mapValues: ({ index, value }) => {
        if (index === 0) this.parsed.push([value]);
        else (this.parsed[this.parsed.length - 1] as string[])[index] = value;
        return value;
      },
    });
    this.parser.on('headers', () => this.add(this.headerFields));
    this.parser.on('data', (row: object) =>
      this.add(FIRST_COLUMN in row ? (this.parsed.shift() as string[]) : []),
    );
    this.parser.on('error', () => {
      this.failure ??= tooLong(this.nextLine());
    });
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
        if (this.failure !== undefined) throw this.failure;
        if (this.rows.length > 0) {
          const rows = this.rows;
          this.rows = [];
          return rows;
        }
        const step = this.steps.shift();
        if (typeof step === 'string') throw this.stopped(step);
        if (step !== undefined) {
          await this.write(step);
          continue;
        }
        if (this.ended) {
          await this.close();
          return null;
        }
        if (this.sourceEnded) {
          await this.endOfFile();
          continue;
        }
        const read = await this.iterator.next();
        if (read.done) {
          this.sourceEnded = true;
          this.steps = this.splitter.push(this.checker.end());
        } else {
          this.steps = this.splitter.push(this.checker.push(read.value));
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
    this.steps = [];
    this.parser.destroy();
    try {
      await this.iterator.return?.();
    } catch {
      // Closing a source that already failed can fail again; the first error is the one to report.
    }
  }

  private write(bytes: Buffer): Promise<void> {
    return new Promise((resolve) => {
      this.parser.write(bytes, (error) => {
        if (error) this.failure ??= tooLong(this.nextLine());
        resolve();
      });
    });
  }

  /** Physical line number of the next record (blank lines before the header count too). */
  private nextLine(): number {
    return this.header === undefined ? this.line + this.splitter.blankLinesBeforeHeader : this.line;
  }

  /** The error of a check that stops reading at the next record. */
  private stopped(stop: Stop): CsvFileError {
    if (stop === 'too long') return tooLong(this.nextLine());
    if (stop === 'stray quote') return strayQuote(this.nextLine());
    return new CsvFileError(
      'The file uses CR-only line breaks (old Mac format); save it with LF or CRLF line breaks.',
    );
  }

  /** The last record (csv-parser reads it when its input ends), then the unclosed-quote check. */
  private async endOfFile(): Promise<void> {
    this.ended = true;
    const end = this.splitter.end();
    if (typeof end === 'string') throw this.stopped(end);
    if (end === undefined) return;
    const row = this.nextLine();
    if (end.last.length > 0) this.parser.end(end.last);
    else this.parser.end();
    try {
      await finished(this.parser);
    } catch {
      // The `error` listener has noted it.
    }
    if (this.failure === undefined && end.unclosed) throw unclosedQuote(row);
  }

  /** One record's fields from csv-parser: numbered, then the header, skipped (blank) or a data row. */
  private add(fields: string[]): void {
    if (this.failure !== undefined) return;
    const row = this.nextLine();
    let lines = 1;
    // A record spans one line more for each line break inside its quoted fields.
    if (this.splitter.sawQuotedBreak) {
      for (let i = 0; i < fields.length; i++) {
        const field = fields[i] as string;
        if (field.indexOf('\n') !== -1) lines += lineBreaks(field);
      }
    }
    this.line = row + lines;
    if (fields.length === 0) return;
    if (this.header === undefined) {
      try {
        this.header = checkedHeader(fields);
      } catch (error) {
        this.failure = error as CsvFileError;
      }
      return;
    }
    if (++this.dataRows > this.maxRows) {
      this.failure = new CsvFileError(
        `The file has more than ${this.maxRows.toLocaleString('en-US')} data rows (row ${this.dataRows.toLocaleString('en-US')} is on line ${row}); split it into files of at most ${this.maxRows.toLocaleString('en-US')} rows.`,
        { maxRows: this.maxRows },
      );
      return;
    }
    this.rows.push({ row, fields });
  }
}

/** The file-level checks that only the header's names show (its CRs: `RecordSplitter`). */
function checkedHeader(fields: string[]): string[] {
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
