/**
 * CSV parse + validate (docs/design.md: at least 60% of the rows/s of bare `csv-parser` over
 * the same file, same run). One in-memory file of `rows` rows (user_id plus a string, a
 * number and a boolean variable), streamed in 64 KiB chunks to bare `csv-parser`
 * (default options, rows iterated with `for await`) and to `validateCsv` with no-op
 * handlers. Each is run three times to warm up, then `runs` times alternately; the median
 * rows/s of each is reported. Rates are per second of CPU time of this process (user +
 * system, so garbage collection counts): on a shared 2-core machine wall time swings
 * with the neighbours' load, CPU time much less. Wall-clock rates are returned too.
 */
import { Readable } from 'node:stream';
import csvParser from 'csv-parser';
import { validateCsv } from '#shared/domain/csv-validate.ts';
import type { VariableSchema } from '#shared/domain/model.ts';

export interface CsvBench {
  /** Rows per CPU-second (see `benchCsvParse`). */
  csvParserRowsPerSecond: number;
  parseValidateRowsPerSecond: number;
  /** The same by wall-clock time, noisier on a shared machine. */
  csvParserWallRowsPerSecond: number;
  parseValidateWallRowsPerSecond: number;
}

const CHUNK_BYTES = 64 * 1024;

const schema: VariableSchema = {
  name: { type: 'string', maxLength: 50 },
  amount: { type: 'number', required: true },
  vip: { type: 'boolean', default: false },
};

export function benchCsvFile(rows: number): Buffer {
  const lines = ['user_id,name,amount,vip'];
  for (let i = 0; i < rows; i++) {
    lines.push(`user-${i},Customer ${i % 977},${(i % 1000) * 1.25},${i % 3 === 0 ? 'true' : 'false'}`);
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

async function* chunksOf(file: Buffer): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < file.length; at += CHUNK_BYTES) yield file.subarray(at, at + CHUNK_BYTES);
}

async function bare(file: Buffer): Promise<number> {
  let n = 0;
  for await (const _row of Readable.from(chunksOf(file)).pipe(csvParser())) n++;
  return n;
}

async function parseValidate(file: Buffer): Promise<number> {
  const totals = await validateCsv(chunksOf(file), schema, {
    onBatch: async () => {},
    onRejection: () => {},
    onProgress: () => {},
  });
  return totals.valid;
}

/** Rows per second of CPU time (user + system of this process) and of wall time. */
async function rate(
  run: (file: Buffer) => Promise<number>,
  file: Buffer,
  rows: number,
): Promise<{ cpu: number; wall: number }> {
  const wallStart = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  const n = await run(file);
  const cpu = process.cpuUsage(cpuStart);
  const wallSeconds = Number(process.hrtime.bigint() - wallStart) / 1e9;
  if (n !== rows) throw new Error(`bench read ${n} rows, expected ${rows}`);
  return { cpu: rows / ((cpu.user + cpu.system) / 1e6), wall: rows / wallSeconds };
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

export async function benchCsvParse(rows = 100_000, runs = 9): Promise<CsvBench> {
  const file = benchCsvFile(rows);
  // Both reach steady JIT state only after two or three runs (measured); warm up three.
  for (let i = 0; i < 3; i++) {
    await rate(bare, file, rows);
    await rate(parseValidate, file, rows);
  }
  const bareRates: Array<{ cpu: number; wall: number }> = [];
  const ownRates: Array<{ cpu: number; wall: number }> = [];
  for (let i = 0; i < runs; i++) {
    bareRates.push(await rate(bare, file, rows));
    ownRates.push(await rate(parseValidate, file, rows));
  }
  return {
    csvParserRowsPerSecond: Math.round(median(bareRates.map((r) => r.cpu))),
    parseValidateRowsPerSecond: Math.round(median(ownRates.map((r) => r.cpu))),
    csvParserWallRowsPerSecond: Math.round(median(bareRates.map((r) => r.wall))),
    parseValidateWallRowsPerSecond: Math.round(median(ownRates.map((r) => r.wall))),
  };
}
