/**
 * The hostile input corpus: CSV files a user (or an attacker) may upload, each generated
 * here (nothing binary is committed) with what the importer does with it per docs/csv.md.
 * Every case is checked against `audienceSchema` (test/support/uploads.ts): `user_id`,
 * `name` (string, required, at most 20), `discount` (number, default 0), `vip` (boolean).
 *
 * Used by test/integration/hostile-input.test.ts (through the API) and
 * test/unit/hostile-corpus.test.ts (the corpus itself is what it claims to be).
 */
import { gzipSync } from 'node:zlib';
import { seededRandom } from '#test/support/flaky-channel.ts';

export interface HostileCase {
  name: string; // e.g. 'unterminated quote'
  fileName: string; // e.g. 'unterminated.csv'
  bytes(): Buffer; // generated content
  /** What the importer does with it: a file-level error, or per-row rejections plus the rows imported. */
  expect:
    | { kind: 'file-error'; message: RegExp } // upload status failed, 0 recipients
    | { kind: 'rows'; imported: number; rejections: { row: number; reason: RegExp }[] };
}

/** The header every case with a valid header uses. */
export const HEADER = 'user_id,name,discount,vip';
/** Size of the one long line of the '10 MiB single line' case (the line itself, without its LF). */
export const LONG_LINE_BYTES = 10 * 1024 * 1024;
/** Columns of the '10,000 columns' case. */
export const WIDE_COLUMNS = 10_000;
/** Seed of the random bytes of the 'binary file' case. */
export const BINARY_SEED = 20261127;
export const BINARY_BYTES = 4096;
/** The formula-injection values (stored as given; neutralised in the rejections report). */
export const FORMULAS = ["=cmd|' /C calc'!A0", '+1+1', '-2+3', '@SUM(A1)'] as const;

const utf8 = (text: string) => Buffer.from(text, 'utf8');
const lines = (...rows: string[]) => `${rows.join('\n')}\n`;
const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The 4 KiB of seeded random bytes of the binary case (the same on every run). */
export function binaryBytes(): Buffer {
  const random = seededRandom(BINARY_SEED);
  const out = Buffer.alloc(BINARY_BYTES);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** 1-based position of the first NUL byte of `bytes`. */
function firstNul(bytes: Buffer): number {
  return bytes.indexOf(0) + 1;
}

const validRows = lines(HEADER, 'u1,Ada,1,true', 'u2,Bob,,false');

const wideHeader = () => {
  const names = ['user_id'];
  for (let i = 1; i < WIDE_COLUMNS; i++) names.push(`c${String(i).padStart(5, '0')}`);
  return names;
};

const cp1252 = () =>
  // 'Café' and 'Zoë' in Windows-1252: é = E9, ë = EB (a lone E9 is not UTF-8).
  Buffer.concat([
    utf8(`${HEADER}\nu1,Caf`),
    Buffer.from([0xe9]),
    utf8(',1,true\nu2,Zo'),
    Buffer.from([0xeb]),
    utf8(',2,false\n'),
  ]);

const nulFile = () => utf8(`${HEADER}\nu1,A\0da,1,true\nu2,Bob,2,false\n`);

const gzipped = () => gzipSync(utf8(validRows));

export function hostileCorpus(): HostileCase[] {
  const wide = wideHeader();
  return [
    {
      name: 'empty file',
      fileName: 'empty.csv',
      bytes: () => Buffer.alloc(0),
      expect: { kind: 'file-error', message: /^The file is empty; upload a CSV with a header row/ },
    },
    {
      name: 'header only',
      fileName: 'header-only.csv',
      bytes: () => utf8(`${HEADER}\n`),
      expect: { kind: 'rows', imported: 0, rejections: [] },
    },
    {
      name: 'UTF-8 BOM',
      fileName: 'bom.csv',
      bytes: () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8(validRows)]),
      expect: { kind: 'rows', imported: 2, rejections: [] },
    },
    {
      name: 'CRLF line endings',
      fileName: 'crlf.csv',
      // A blank CRLF line (line 3) is skipped and still counts: 'bad' is on line 5.
      bytes: () => utf8(`${HEADER}\r\nu1,Ada,1,true\r\n\r\nu2,Bob,2,false\r\nbad,Eve,x,true\r\n`),
      expect: {
        kind: 'rows',
        imported: 2,
        rejections: [{ row: 5, reason: /^discount: expected a number, got 'x'$/ }],
      },
    },
    {
      name: 'lone CR line endings',
      fileName: 'old-mac.csv',
      bytes: () => utf8(`${HEADER}\ru1,Ada,1,true\ru2,Bob,2,false\r`),
      expect: {
        kind: 'file-error',
        message: /^The file uses CR-only line breaks \(old Mac format\); save it with LF or CRLF/,
      },
    },
    {
      name: 'quoted newlines and commas',
      fileName: 'quoted.csv',
      // Row 3 spans lines 3-4, so the rejected row is numbered by the line it starts on: 6.
      bytes: () =>
        utf8(
          lines(
            HEADER,
            'u1,"Smith, Ada",1,true',
            'u2,"two',
            'lines",2,false',
            'u3,"say ""hi""",3,true',
            'u4,"a,b","1,5",true',
          ),
        ),
      expect: {
        kind: 'rows',
        imported: 3,
        rejections: [{ row: 6, reason: /^discount: expected a number, got '1,5'$/ }],
      },
    },
    {
      name: 'unterminated quote',
      fileName: 'unterminated.csv',
      bytes: () => utf8(lines(HEADER, 'u1,Ada,1,true', 'u2,"Bob,2,false', 'u3,Cy,3,true')),
      expect: {
        kind: 'file-error',
        message:
          /^Line 3 opens a quoted field \('"'\) that is never closed, so the rest of the file would be one value; close the quote/,
      },
    },
    {
      name: '10 MiB single line',
      fileName: 'long-line.csv',
      bytes: () => {
        const prefix = 'u1,';
        const suffix = ',1,true';
        const line = prefix + 'a'.repeat(LONG_LINE_BYTES - prefix.length - suffix.length) + suffix;
        return utf8(`${HEADER}\n${line}\n`);
      },
      expect: {
        kind: 'file-error',
        message:
          /^A record starting on line 2 is longer than 1 MiB; usually a '"' opens a quoted field that is never closed/,
      },
    },
    {
      name: '10,000 columns',
      fileName: 'wide.csv',
      bytes: () => {
        const row = (n: number) => [`u${n}`, ...wide.slice(1).map(() => '1')].join(',');
        return utf8(lines(wide.join(','), row(1), row(2)));
      },
      // The message names the first columns and how many more, not all 9,999.
      expect: {
        kind: 'file-error',
        message: new RegExp(
          `^Unknown column\\(s\\) in the header: 'c00001', 'c00002', .*'c00010' and ${WIDE_COLUMNS - 11} more\\. Every column other than user_id must be a variable of the template: (?=[a-z, ]*name)(?=[a-z, ]*discount)(?=[a-z, ]*vip)[a-z, ]+\\.$`,
        ),
      },
    },
    {
      name: 'duplicate header names',
      fileName: 'duplicate-header.csv',
      bytes: () => utf8(lines('user_id,name,discount,name', 'u1,Ada,1,Ada')),
      expect: {
        kind: 'file-error',
        message: /^Duplicate column name\(s\) in the header: 'name'\. Give each column a distinct name\.$/,
      },
    },
    {
      name: 'empty header names',
      fileName: 'empty-header.csv',
      bytes: () => utf8(lines('user_id,name,,vip', 'u1,Ada,1,true')),
      expect: {
        kind: 'file-error',
        message:
          /^Invalid column name\(s\) in the header: column 3 \(empty\)\. Column names may use only letters, digits, '_' and '-' \(no spaces\)\.$/,
      },
    },
    {
      name: 'header names with spaces or dots',
      fileName: 'header-spaces.csv',
      bytes: () => utf8(lines('user_id,first name,discount.rate,vip', 'u1,Ada,1,true')),
      expect: {
        kind: 'file-error',
        message:
          /^Invalid column name\(s\) in the header: 'first name', 'discount\.rate'\. Column names may use only letters, digits, '_' and '-' \(no spaces\)\.$/,
      },
    },
    {
      name: 'user_id with spaces',
      fileName: 'user-id-spaces.csv',
      bytes: () => utf8(lines(HEADER, ' u1,Ada,1,true', 'u 2,Bob,1,true', 'u3 ,Cy,1,true', 'u4,Dee,1,true')),
      expect: {
        kind: 'rows',
        imported: 1,
        rejections: [
          { row: 2, reason: /^user_id: only letters, digits and _ @ \. : - are allowed, got ' u1'$/ },
          { row: 3, reason: /^user_id: only letters, digits and _ @ \. : - are allowed, got 'u 2'$/ },
          { row: 4, reason: /^user_id: only letters, digits and _ @ \. : - are allowed, got 'u3 '$/ },
        ],
      },
    },
    {
      name: 'user_id with emoji',
      fileName: 'user-id-emoji.csv',
      // An emoji is fine in a string variable (one character of maxLength), not in a user id.
      bytes: () =>
        utf8(lines(HEADER, 'u😀,Ada,1,true', 'u2,😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀,1,true')),
      expect: {
        kind: 'rows',
        imported: 1,
        rejections: [
          { row: 2, reason: /^user_id: only letters, digits and _ @ \. : - are allowed, got 'u😀'$/ },
        ],
      },
    },
    {
      name: 'user_id of 101 characters',
      fileName: 'user-id-101.csv',
      bytes: () => utf8(lines(HEADER, `${'x'.repeat(101)},Ada,1,true`, `${'y'.repeat(100)},Bob,1,true`)),
      expect: {
        kind: 'rows',
        imported: 1,
        rejections: [{ row: 2, reason: /^user_id: at most 100 characters, got 101$/ }],
      },
    },
    {
      name: 'user_id with leading zeros',
      fileName: 'leading-zeros.csv',
      // Kept as strings: '007' and '7' are two recipients.
      bytes: () => utf8(lines(HEADER, '007,Ada,007,true', '7,Bob,7,false')),
      expect: { kind: 'rows', imported: 2, rejections: [] },
    },
    {
      name: 'user_id 1e5',
      fileName: 'exponent.csv',
      // A user id stays the string '1e5'; the number variable is 100000.
      bytes: () => utf8(lines(HEADER, '1e5,Ada,1e5,TRUE', '100000,Bob,1,FALSE')),
      expect: { kind: 'rows', imported: 2, rejections: [] },
    },
    {
      name: 'Windows-1252 file',
      fileName: 'cp1252.csv',
      bytes: cp1252,
      expect: {
        kind: 'file-error',
        message: new RegExp(
          `^The file is not valid UTF-8 text \\(first invalid byte near byte ${HEADER.length + 1 + 'u1,Caf'.length + 1}\\); save it as UTF-8 \\(in Excel: "CSV UTF-8"\\)\\.$`,
        ),
      },
    },
    {
      name: 'UTF-16 LE with BOM',
      fileName: 'utf16le.csv',
      bytes: () => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(validRows, 'utf16le')]),
      expect: {
        kind: 'file-error',
        message: /^The file is UTF-16 LE text \(it starts with the byte order mark FF FE\); save it as UTF-8/,
      },
    },
    {
      name: 'UTF-16 BE with BOM',
      fileName: 'utf16be.csv',
      bytes: () => {
        const le = Buffer.from(`\ufeff${validRows}`, 'utf16le');
        return Buffer.from(le).swap16();
      },
      expect: {
        kind: 'file-error',
        message: /^The file is UTF-16 BE text \(it starts with the byte order mark FE FF\); save it as UTF-8/,
      },
    },
    {
      name: 'UTF-16 LE without BOM',
      fileName: 'utf16le-nobom.csv',
      // Without a byte order mark UTF-16 shows as NUL bytes: the high byte of 'u' is byte 2.
      bytes: () => Buffer.from(validRows, 'utf16le'),
      expect: {
        kind: 'file-error',
        message:
          /^The file contains NUL bytes \(first at byte 2\): it is binary content or UTF-16 text, not a UTF-8 CSV; save it as UTF-8 CSV\.$/,
      },
    },
    {
      name: 'binary file renamed .csv',
      fileName: 'random.csv',
      bytes: binaryBytes,
      expect: {
        kind: 'file-error',
        message: new RegExp(
          `^The file contains NUL bytes \\(first at byte ${firstNul(binaryBytes())}\\): it is binary content or UTF-16 text, not a UTF-8 CSV`,
        ),
      },
    },
    {
      name: 'gzip file',
      fileName: 'audience.csv.gz',
      bytes: gzipped,
      expect: {
        kind: 'file-error',
        message:
          /^The file is gzip-compressed \(it starts with 1F 8B\); decompress it and upload the CSV text\.$/,
      },
    },
    {
      name: 'NUL bytes',
      fileName: 'nul.csv',
      bytes: nulFile,
      expect: {
        kind: 'file-error',
        message: new RegExp(
          `^The file contains NUL bytes \\(first at byte ${firstNul(nulFile())}\\): it is binary content or UTF-16 text`,
        ),
      },
    },
    {
      name: 'formula injection',
      fileName: 'formulas.csv',
      // As variable values they are plain strings, stored as given (rows 2-5). As user ids
      // '=' '+' and '(' are not allowed and '-1' '@me' are valid ids with a bad cell, so
      // rows 6-9 are rejected and their user ids land in the report, neutralised.
      bytes: () =>
        utf8(
          lines(
            HEADER,
            ...FORMULAS.map((f, i) => `f${i + 1},"${f.replace(/"/g, '""')}",1,true`),
            `"${FORMULAS[0]}",Ada,1,true`,
            '+1+1,Ada,1,true',
            '-2+3,Ada,1,maybe',
            '@SUM(A1),Ada,1,true',
            '-1,Ada,1,maybe',
            '@me,=1+1,abc,true',
          ),
        ),
      expect: {
        kind: 'rows',
        imported: FORMULAS.length,
        rejections: [
          {
            row: 6,
            reason: new RegExp(
              `^user_id: only letters, digits and _ @ \\. : - are allowed, got '${literal(FORMULAS[0])}'$`,
            ),
          },
          { row: 7, reason: /^user_id: only letters, digits and _ @ \. : - are allowed, got '\+1\+1'$/ },
          {
            row: 8,
            reason:
              /^user_id: only letters, digits and _ @ \. : - are allowed, got '-2\+3'; vip: expected true or false, got 'maybe'$/,
          },
          { row: 9, reason: /^user_id: only letters, digits and _ @ \. : - are allowed, got '@SUM\(A1\)'$/ },
          { row: 10, reason: /^vip: expected true or false, got 'maybe'$/ },
          { row: 11, reason: /^discount: expected a number, got 'abc'$/ },
        ],
      },
    },
  ];
}
