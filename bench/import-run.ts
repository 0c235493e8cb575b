/**
 * Runs the importer once in this fresh process, as Lambda would, for the S3 event in
 * `BENCH_EVENT`, and prints `{ seconds, peakRssMiB, startRssMiB }`: the peak is this
 * process's own, sampled every 10 ms.
 */
import { lambdaContext } from '#infra/local/lambda-context.ts';

const event = JSON.parse(process.env.BENCH_EVENT ?? '{}');
const { handler } = await import('#functions/import-csv.ts');
const startRss = process.memoryUsage.rss();
let peakRss = startRss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 10);
const started = performance.now();
await handler(event, lambdaContext('importCsv', 900));
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage.rss());
const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
process.stdout.write(
  `${JSON.stringify({ seconds, peakRssMiB: mib(peakRss), startRssMiB: mib(startRss) })}\n`,
);
