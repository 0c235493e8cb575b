/**
 * Child-process entry that serves S3 and SQS with fauxqs on a free loopback port,
 * prints `{"port":N}` once listening, and exits when its stdin closes.
 */
import { startFauxqs } from 'fauxqs';

const server = await startFauxqs({ port: 0, logger: false, host: 'localhost' });
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
const shutdown = () => {
  server.stop().finally(() => process.exit(0));
};
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
