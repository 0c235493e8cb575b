/**
 * Child-process entry that serves S3 and SQS with fauxqs on a free loopback port,
 * prints `{"port":N}` once listening, and exits when its stdin closes.
 */
import { registerHooks } from 'node:module';

// fauxqs's own `import Fastify from "fastify"` gets our wrapper (see fauxqs-body-limit.ts).
const wrapper = new URL('./fauxqs-body-limit.ts', import.meta.url).href;
registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === 'fastify' && context.parentURL !== wrapper && context.parentURL?.includes('/fauxqs/')) {
      return { url: wrapper, shortCircuit: true };
    }
    return nextResolve(specifier, context);
  },
});
const { startFauxqs } = await import('fauxqs');

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
