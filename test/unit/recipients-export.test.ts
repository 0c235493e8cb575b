import { describe, expect, it } from 'vitest';
import { writeObject } from '#shared/adapters/object-writer.ts';
import { unneutralizeCell } from '#shared/domain/csv-rules.ts';
import {
  collectInline,
  exportHeader,
  exportLine,
  jsonEscapedBytes,
  parseExportStatus,
} from '#shared/domain/recipients-export.ts';
import { InvalidInputError } from '#shared/errors.ts';

/** Lines `line 0`… , counting how many the consumer pulled. */
function countingLines(count: number, size = 100) {
  const pulled = { lines: 0 };
  async function* lines(): AsyncGenerator<string> {
    for (let i = 0; i < count; i += 1) {
      pulled.lines += 1;
      yield `${`line ${i} `.padEnd(size - 2, 'x')}\r\n`;
    }
  }
  return { lines: lines(), pulled };
}

describe('export lines', () => {
  it('writes user_id, the variables in schema order, status and error, neutralised and quoted', () => {
    expect(exportHeader(['name', 'n'])).toBe('user_id,name,n,status,error\r\n');
    expect(
      exportLine(['name', 'n', 'vip'], {
        userId: '@bob',
        status: 'failed',
        variables: { n: -2, name: '=SUM(A1), "x"', vip: true },
        error: '-timeout',
      }),
    ).toBe(`'@bob,"'=SUM(A1), ""x""",'-2,true,failed,'-timeout\r\n`);
  });

  it('leaves an empty cell for a variable the recipient does not have', () => {
    expect(exportLine(['a', 'b'], { userId: 'u1', status: 'pending', variables: { b: 'x' } })).toBe(
      'u1,,x,pending,\r\n',
    );
  });

  it('names the status field, the valid ones and the fix for a bad filter', () => {
    expect(() => parseExportStatus('failes')).toThrow(InvalidInputError);
    expect(() => parseExportStatus('failes')).toThrow(
      "status 'failes' is not a recipient status; use one of pending, queued, sent, failed, skipped, or omit it to export every recipient.",
    );
    expect(parseExportStatus('failed')).toBe('failed');
  });

  it('a neutralised cell reads back as the value', () => {
    expect(unneutralizeCell("'-2")).toBe('-2');
  });
});

describe('inline bound', () => {
  it('answers the whole CSV when it fits', async () => {
    const { lines } = countingLines(10);
    const inline = await collectInline(lines, { maxBytes: 10_000, maxRows: 100 });
    expect(inline).toMatchObject({ fits: true, rows: 9 });
    expect(inline.fits && inline.csv.length).toBe(1000);
  });

  it('stops reading at the byte bound: no line past it is pulled', async () => {
    const { lines, pulled } = countingLines(100_000);
    // Lines of 100 characters take 102 bytes escaped (CRLF is \r\n in JSON).
    const inline = await collectInline(lines, { maxBytes: 1020, maxRows: 1_000_000 });
    expect(inline.fits).toBe(false);
    // 10 lines fit; the 11th is over, and nothing after it is read.
    expect(pulled.lines).toBe(11);
  });

  it('stops reading at the row bound', async () => {
    const { lines, pulled } = countingLines(100_000);
    const inline = await collectInline(lines, { maxBytes: 1_000_000_000, maxRows: 5 });
    expect(inline.fits).toBe(false);
    // The header and 5 rows fit; the 6th row is over.
    expect(pulled.lines).toBe(7);
  });

  it('counts bytes as Lambda does, after JSON escaping', () => {
    expect(jsonEscapedBytes('a"b\r\n')).toBe(8);
    expect(jsonEscapedBytes('é')).toBe(2);
  });
});

describe('export job object', () => {
  function fakeS3() {
    const calls: { name: string; bytes?: number; buffered?: number }[] = [];
    const parts = new Map<number, Buffer>();
    let putBody: Buffer | undefined;
    const client = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        const name = command.constructor.name;
        const body = command.input.Body as Buffer | undefined;
        calls.push({ name, ...(body ? { bytes: body.length } : {}) });
        if (name === 'CreateMultipartUploadCommand') return { UploadId: 'up1' };
        if (name === 'UploadPartCommand') {
          parts.set(command.input.PartNumber as number, body as Buffer);
          return { ETag: `"e${command.input.PartNumber}"` };
        }
        if (name === 'PutObjectCommand') putBody = body;
        return {};
      },
    };
    const object = () =>
      putBody ?? Buffer.concat([...parts.entries()].sort(([a], [b]) => a - b).map(([, p]) => p));
    return { client, calls, object };
  }

  it('writes parts of the part size as the lines come, each uploaded before more is read', async () => {
    const s3 = fakeS3();
    const { lines, pulled } = countingLines(1000);
    const readAtPart: number[] = [];
    const result = await writeObject(
      s3.client as never,
      { bucket: 'b', key: 'exports/k.csv', contentType: 'text/csv', partBytes: 10_000 },
      lines,
      () => {
        readAtPart.push(pulled.lines);
      },
    );
    expect(result).toEqual({ bytes: 100_000, parts: 10 });
    const partSizes = s3.calls.filter((c) => c.name === 'UploadPartCommand').map((c) => c.bytes);
    expect(partSizes).toEqual(Array(10).fill(10_000));
    // Part n went up when 100·n lines had been read, not after the whole stream.
    expect(readAtPart).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    expect(s3.calls.at(-1)?.name).toBe('CompleteMultipartUploadCommand');
    expect(s3.object().length).toBe(100_000);
  });

  it('puts a stream smaller than one part as one object', async () => {
    const s3 = fakeS3();
    const { lines } = countingLines(5);
    expect(
      await writeObject(
        s3.client as never,
        { bucket: 'b', key: 'k', contentType: 'text/csv', partBytes: 10_000 },
        lines,
      ),
    ).toEqual({ bytes: 500, parts: 0 });
    expect(s3.calls.map((c) => c.name)).toEqual(['PutObjectCommand']);
  });

  it('aborts the multipart upload when the lines fail', async () => {
    const s3 = fakeS3();
    async function* failing(): AsyncGenerator<string> {
      yield 'x'.repeat(20_000);
      throw new Error('DynamoDB failed');
    }
    await expect(
      writeObject(
        s3.client as never,
        { bucket: 'b', key: 'k', contentType: 'text/csv', partBytes: 10_000 },
        failing(),
      ),
    ).rejects.toThrow('DynamoDB failed');
    expect(s3.calls.map((c) => c.name)).toEqual([
      'CreateMultipartUploadCommand',
      'UploadPartCommand',
      'AbortMultipartUploadCommand',
    ]);
  });
});
