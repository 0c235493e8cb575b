import { describe, expect, it } from 'vitest';
import { CsvFileError } from '#shared/domain/csv-stream.ts';
import { type ValidationTotals, type ValidRecipient, validateCsv } from '#shared/domain/csv-validate.ts';
import type { Rejection, VariableSchema } from '#shared/domain/model.ts';

const schema: VariableSchema = {
  name: { type: 'string' },
  code: { type: 'string', required: true },
  vip: { type: 'boolean', default: false },
};

async function* chunks(text: string | Uint8Array, size = 64): AsyncGenerator<Uint8Array> {
  const all = typeof text === 'string' ? Buffer.from(text) : text;
  for (let at = 0; at < all.length; at += size) yield all.subarray(at, at + size);
}

async function run(
  text: string,
  options: { maxRows?: number; batchSize?: number; progressEvery?: number } = {},
) {
  const batches: ValidRecipient[][] = [];
  const rejections: Rejection[] = [];
  const progress: ValidationTotals[] = [];
  const totals = await validateCsv(
    chunks(text),
    schema,
    {
      onBatch: async (batch) => {
        batches.push(batch);
      },
      onRejection: (rejection) => {
        rejections.push(rejection);
      },
      onProgress: (t) => {
        progress.push(t);
      },
    },
    options,
  );
  return { totals, batches, rejections, progress };
}

describe('validateCsv', () => {
  it('hands valid recipients on with typed variables and defaults, and reports rejected rows', async () => {
    const { totals, batches, rejections } = await run(
      'user_id,name,code,vip\nu1,Ada,A,TRUE\nu2,,B,\nu3,Cy,,true\nu4,Di,D,maybe\nu5,Ed\n',
    );
    expect(batches.flat()).toEqual([
      { row: 2, userId: 'u1', variables: { name: 'Ada', code: 'A', vip: true } },
      { row: 3, userId: 'u2', variables: { code: 'B', vip: false } },
    ]);
    expect(rejections).toEqual([
      { row: 4, userId: 'u3', reason: 'code: required, but empty and without a default' },
      { row: 5, userId: 'u4', reason: "vip: expected true or false, got 'maybe'" },
      { row: 6, userId: 'u5', reason: 'expected 4 fields (user_id,name,code,vip), got 2' },
    ]);
    expect(totals).toEqual({ rowsRead: 5, valid: 2, rejected: 3, duplicates: 0 });
  });

  it('keeps the first row of a duplicate user_id and counts the later ones as duplicates', async () => {
    const { totals, batches, rejections } = await run('user_id,code\nu1,first\nu2,x\nu1,second\nu1,third\n');
    expect(batches.flat().map((r) => [r.userId, r.variables.code])).toEqual([
      ['u1', 'first'],
      ['u2', 'x'],
    ]);
    expect(rejections).toEqual([]);
    expect(totals).toEqual({ rowsRead: 4, valid: 2, rejected: 0, duplicates: 2 });
  });

  it('checks a row before de-duplicating it: a rejected row is not the first of its user_id', async () => {
    const { totals, batches, rejections } = await run('user_id,code\nu1,\nu1,ok\nu1,\n');
    expect(batches.flat().map((r) => r.row)).toEqual([3]);
    expect(rejections.map((r) => r.row)).toEqual([2, 4]);
    expect(totals).toEqual({ rowsRead: 3, valid: 1, rejected: 2, duplicates: 0 });
  });

  it('keeps user_id exactly as written, leading zeros included, and reads a neutralised one back', async () => {
    const { batches } = await run("user_id,code\n007,x\n'@bob,y\n");
    expect(batches.flat().map((r) => r.userId)).toEqual(['007', '@bob']);
  });

  it("shows a rejected row's user_id as written, cut to 100 characters", async () => {
    const { rejections } = await run(`user_id,code\n${'a'.repeat(101)},x\n u1,y\n`);
    expect(rejections).toEqual([
      { row: 2, userId: `${'a'.repeat(100)}…`, reason: 'user_id: at most 100 characters, got 101' },
      { row: 3, userId: ' u1', reason: "user_id: only letters, digits and _ @ . : - are allowed, got ' u1'" },
    ]);
  });

  it('treats user ids that differ only in letter case as different recipients', async () => {
    const { totals } = await run('user_id,code\nabc,x\nABC,x\n');
    expect(totals.valid).toBe(2);
  });

  it('hands valid recipients in batches of batchSize and reports progress every progressEvery rows', async () => {
    const rows = Array.from({ length: 12 }, (_, i) => `u${i},c\n`).join('');
    const { batches, progress, totals } = await run(`user_id,code\n${rows}`, {
      batchSize: 5,
      progressEvery: 4,
    });
    expect(batches.map((b) => b.length)).toEqual([5, 5, 2]);
    expect(progress.map((p) => p.rowsRead)).toEqual([4, 8, 12]);
    expect(progress[0]).toEqual({ rowsRead: 4, valid: 4, rejected: 0, duplicates: 0 });
    expect(totals.rowsRead).toBe(12);
  });

  it('awaits onBatch before reading on (backpressure)', async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => `u${i},c\n`).join('');
    let inFlight = 0;
    let maxInFlight = 0;
    let pulledWhileBusy = 0;
    async function* source(): AsyncGenerator<Uint8Array> {
      for await (const chunk of chunks(`user_id,code\n${rows}`, 256)) {
        if (inFlight > 0) pulledWhileBusy++;
        yield chunk;
      }
    }
    await validateCsv(
      source(),
      schema,
      {
        onBatch: async () => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await new Promise((resolve) => setTimeout(resolve, 1));
          inFlight--;
        },
      },
      { batchSize: 100 },
    );
    expect(maxInFlight).toBe(1);
    expect(pulledWhileBusy).toBe(0);
  });

  it('fails with a CsvFileError naming the column when the header breaks the schema, adding nothing', async () => {
    let batches = 0;
    const attempt = validateCsv(chunks('user_id,colour\nu1,red\n'), schema, {
      onBatch: async () => {
        batches++;
      },
    });
    await expect(attempt).rejects.toBeInstanceOf(CsvFileError);
    await expect(validateCsv(chunks('user_id,colour\nu1,red\n'), schema, {})).rejects.toThrow(
      "Unknown column(s) in the header: 'colour'.",
    );
    expect(batches).toBe(0);
  });

  it('fails with a CsvFileError naming the column when the header has no user_id', async () => {
    await expect(validateCsv(chunks('id,code\n1,x\n'), schema, {})).rejects.toThrow(
      "The header has no user_id column. Add a column named user_id holding each recipient's id.",
    );
  });

  it('fails a file with 100,001 data rows with a CsvFileError', async () => {
    const rows = Array.from({ length: 100_001 }, (_, i) => `u${i},c\n`).join('');
    await expect(
      validateCsv(chunks(`user_id,code\n${rows}`, 65_536), schema, { onBatch: async () => {} }),
    ).rejects.toThrow('The file has more than 100,000 data rows');
  }, 30_000);

  it('accepts exactly 100,000 data rows', async () => {
    const rows = Array.from({ length: 100_000 }, (_, i) => `u${i},c\n`).join('');
    const totals = await validateCsv(chunks(`user_id,code\n${rows}`, 65_536), schema, {});
    expect(totals).toEqual({ rowsRead: 100_000, valid: 100_000, rejected: 0, duplicates: 0 });
  }, 30_000);

  it('fails on invalid UTF-8 in a late chunk even after batches were handed on', async () => {
    const rows = Array.from({ length: 2000 }, (_, i) => `u${i},c\n`).join('');
    const bytes = Buffer.concat([Buffer.from(`user_id,code\n${rows}`), Buffer.from([0xff, 0x0a])]);
    let batches = 0;
    await expect(
      validateCsv(
        chunks(bytes, 1024),
        schema,
        {
          onBatch: async () => {
            batches++;
          },
        },
        { batchSize: 100 },
      ),
    ).rejects.toThrow('The file is not valid UTF-8 text');
    // A single pass cannot know before the end; this is why the importer validates first.
    expect(batches).toBeGreaterThan(0);
  });

  it('accepts a header-only file as zero rows', async () => {
    expect((await run('user_id,code\n')).totals).toEqual({
      rowsRead: 0,
      valid: 0,
      rejected: 0,
      duplicates: 0,
    });
  });
});
