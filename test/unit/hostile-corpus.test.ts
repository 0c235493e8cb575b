/**
 * The hostile corpus is what it claims to be (so it cannot silently rot into harmless
 * files), and each case gets its documented outcome from the importer's own pass
 * (`validateCsv`, in memory; test/integration/hostile-input.test.ts does it through the API).
 */
import { describe, expect, it } from 'vitest';
import { MAX_RECORD_BYTES } from '#shared/domain/csv-stream.ts';
import { validateCsv } from '#shared/domain/csv-validate.ts';
import type { Rejection } from '#shared/domain/model.ts';
import { FORMULAS, HEADER, hostileCorpus, WIDE_COLUMNS } from '#test/support/hostile-corpus.ts';
import { audienceSchema } from '#test/support/uploads.ts';

const corpus = hostileCorpus();

function bytesOf(name: string): Buffer {
  const found = corpus.find((c) => c.name === name);
  if (!found) throw new Error(`no case named '${name}'`);
  return found.bytes();
}

async function* pieces(bytes: Buffer, size = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

describe('hostile corpus', () => {
  it('has unique names and file names, and generates the same bytes every time', () => {
    expect(new Set(corpus.map((c) => c.name)).size).toBe(corpus.length);
    expect(new Set(corpus.map((c) => c.fileName)).size).toBe(corpus.length);
    for (const c of corpus) expect(c.bytes().equals(c.bytes()), c.name).toBe(true);
  });

  it('holds the byte patterns each case is named for', () => {
    expect(bytesOf('empty file').length).toBe(0);
    expect(bytesOf('UTF-8 BOM').subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    expect(bytesOf('CRLF line endings').toString('latin1')).toMatch(/^[^\r\n]*\r\n/);
    const cr = bytesOf('lone CR line endings');
    expect(cr.includes(0x0d)).toBe(true);
    expect(cr.includes(0x0a)).toBe(false);
    expect(bytesOf('UTF-16 LE with BOM').subarray(0, 4)).toEqual(Buffer.from([0xff, 0xfe, 0x75, 0x00]));
    expect(bytesOf('UTF-16 BE with BOM').subarray(0, 4)).toEqual(Buffer.from([0xfe, 0xff, 0x00, 0x75]));
    expect(bytesOf('gzip file').subarray(0, 3)).toEqual(Buffer.from([0x1f, 0x8b, 0x08]));
    expect(bytesOf('NUL bytes').includes(0)).toBe(true);
    // Windows-1252: a lone E9 (é), which is not UTF-8.
    const cp1252 = bytesOf('Windows-1252 file');
    expect(cp1252.includes(0xe9)).toBe(true);
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(cp1252)).toThrow();
  });

  it('has 4 KiB of random bytes as its binary file: not text, and no other case in disguise', () => {
    const binary = bytesOf('binary file renamed .csv');
    expect(binary.length).toBe(4096);
    // Random, not a pattern: nearly every byte value occurs, none much more than 4096/256 = 16 times.
    const counts = new Array<number>(256).fill(0);
    for (const byte of binary) counts[byte] = (counts[byte] ?? 0) + 1;
    expect(counts.filter((n) => n > 0).length).toBeGreaterThan(240);
    expect(Math.max(...counts)).toBeLessThan(48);
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(binary)).toThrow();
    // Not UTF-16 (a BOM), gzip or ZIP, which have their own cases and messages.
    expect([0xfffe, 0xfeff, 0x1f8b, 0x504b]).not.toContain(binary.readUInt16BE(0));
  });

  it('has a single line of exactly 10 MiB, ten times the record limit', () => {
    const text = bytesOf('10 MiB single line').toString('latin1');
    const lines = text.split('\n');
    expect(lines).toHaveLength(3); // header, the line, and '' after the final LF
    expect(lines[0]).toBe(HEADER);
    expect(lines[1]?.length).toBe(10 * 1024 * 1024);
    // Ten times the importer's own limit, whatever that limit is made.
    expect(lines[1]?.length).toBe(10 * MAX_RECORD_BYTES);
  });

  it('has 10,000 columns in the header and in each row', () => {
    const [header, ...rows] = bytesOf('10,000 columns').toString('utf8').trimEnd().split('\n');
    expect(header?.split(',')).toHaveLength(WIDE_COLUMNS);
    expect(header?.split(',')[0]).toBe('user_id');
    for (const row of rows) expect(row.split(',')).toHaveLength(WIDE_COLUMNS);
  });

  it('has every formula prefix among the stored values and the rejected user ids', () => {
    const text = bytesOf('formula injection').toString('utf8');
    for (const prefix of ['=', '+', '-', '@']) expect(FORMULAS.some((f) => f.startsWith(prefix))).toBe(true);
    expect(text).toContain(`\n"${FORMULAS[0]}",`);
    expect(text).toContain('\n+1+1,');
    expect(text).toContain('\n-1,');
    expect(text).toContain('\n@me,');
  });

  it('reads the 10 MiB line with copies linear in the record limit, whatever the chunk size', async () => {
    const bytes = bytesOf('10 MiB single line');
    for (const chunk of [7 * 1024, 16 * 1024, 64 * 1024]) {
      // Every Buffer.concat of the read (a pending record is gathered with it).
      const concat = Buffer.concat;
      let copied = 0;
      Buffer.concat = (list: readonly Uint8Array[], length?: number) => {
        const out = concat(list, length);
        copied += out.length;
        return out;
      };
      try {
        await expect(validateCsv(pieces(bytes, chunk), audienceSchema, {})).rejects.toThrow(
          /longer than 1 MiB/,
        );
      } finally {
        Buffer.concat = concat;
      }
      // Measured: none (the record is kept as the chunks it spans until it fails); 4-6 MiB when
      // it was fed to csv-parser in doubling pieces, 32-78 MiB in fixed ones (16 and 7 KiB).
      expect(copied, `${chunk}-byte chunks`).toBeLessThan(8 * MAX_RECORD_BYTES);
    }
  });

  for (const c of corpus) {
    it(`gets its documented outcome from the importer's pass: ${c.name}`, async () => {
      const rejections: Rejection[] = [];
      const outcome = await validateCsv(pieces(c.bytes()), audienceSchema, {
        onRejection: (r) => {
          rejections.push(r);
        },
      }).then(
        (totals) => ({ ok: true as const, totals }),
        (error: Error) => ({ ok: false as const, message: error.message }),
      );
      if (c.expect.kind === 'file-error') {
        expect(outcome.ok).toBe(false);
        if (!outcome.ok) expect(outcome.message).toMatch(c.expect.message);
      } else {
        expect(outcome).toMatchObject({ ok: true, totals: { valid: c.expect.imported, duplicates: 0 } });
        expect(rejections.map((r) => r.row)).toEqual(c.expect.rejections.map((r) => r.row));
        c.expect.rejections.forEach((r, i) => {
          expect(rejections[i]?.reason).toMatch(r.reason);
        });
      }
    });
  }
});
