/**
 * Crash tests' child process: runs one real Lambda handler (`functions/<entry>` of
 * `infra/functions.ts`) in a Node process of its own, so that the test can SIGKILL it
 * the way a Lambda sandbox dies (a timeout, an out-of-memory kill, a host going away).
 *
 *     node test/support/crash/handler-child.ts <functionName> < event.json
 *
 * The environment is the test process's (the local runtime's `aws.env`, the table,
 * bucket and queue names and the handler defaults it set). The child loads the handler
 * first (its cold start), then reads the event as JSON on stdin, so a test can start a
 * warm child ahead and invoke it the instant it needs to. The handler is called with a Lambda `Context` (infra/local/lambda-context.ts);
 * on success the child prints `result <json>` on stdout and exits 0, on error it prints
 * the error on stderr and exits 1.
 *
 * `CRASH_GATE=<Operation>[~<text>[~<text>…]]:<n>:<before|after>` stops the handler at an
 * exact point of its progress: the n-th call of that AWS operation (DynamoDB or SQS,
 * e.g. `BatchWriteItem`, `SendMessageBatch`, `TransactWriteItems`; counting only the
 * calls whose JSON input contains every `<text>`) is held before it is sent, or after
 * its answer came back. From then on no AWS call of this process ever completes; the
 * child prints `gate` on stdout and waits for the SIGKILL. Work already past the AWS
 * layer (a channel call in progress) may still finish, as it would in a real crash.
 */

import type { Context } from 'aws-lambda';
import { type FunctionName, functions } from '#infra/functions.ts';
import { lambdaContext } from '#infra/local/lambda-context.ts';
import { dynamodb } from '#shared/adapters/dynamodb.ts';
import { sqs } from '#shared/adapters/sqs.ts';

interface MiddlewareClient {
  middlewareStack: {
    add(
      middleware: (
        next: (args: { input: unknown }) => Promise<unknown>,
        context: { commandName?: string },
      ) => (args: { input: unknown }) => Promise<unknown>,
      options: { step: 'initialize'; name: string },
    ): void;
  };
}

const name = process.argv[2] as FunctionName;
const spec = functions[name];
if (!spec) {
  console.error(
    `handler-child: unknown function '${process.argv[2]}'; one of ${Object.keys(functions).join(', ')}`,
  );
  process.exit(2);
}

/** Parses `CRASH_GATE`; undefined when unset. */
function parseGate(text: string | undefined) {
  if (!text) return undefined;
  const match = /^([A-Za-z]+)((?:~.*)?):(\d+):(before|after)$/.exec(text);
  if (!match) {
    console.error(`handler-child: CRASH_GATE '${text}' is not <Operation>[~<text>…]:<n>:<before|after>`);
    process.exit(2);
  }
  return {
    operation: match[1] as string,
    texts: (match[2] ?? '').split('~').filter((t) => t !== ''),
    n: Number(match[3]),
    when: match[4] as 'before' | 'after',
  };
}

const gate = parseGate(process.env.CRASH_GATE);
let frozen = false;
const never = () => new Promise<never>(() => undefined);

function freeze() {
  frozen = true;
  // A held promise alone would let Node exit: keep the process alive for the SIGKILL, but
  // not past the test process (an orphan is adopted by another parent).
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(1);
  }, 1000);
  process.stdout.write('gate\n');
}

async function installGate(): Promise<void> {
  if (!gate) return;
  let seen = 0;
  for (const client of [dynamodb, sqs] as unknown as MiddlewareClient[]) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (frozen) return never();
        const operation = (context.commandName ?? '').replace(/Command$/, '');
        let counts = false;
        if (operation === gate.operation) {
          const input = JSON.stringify(args.input);
          counts = gate.texts.every((t) => input.includes(t));
        }
        const tripped = counts && ++seen === gate.n;
        if (tripped && gate.when === 'before') {
          freeze();
          return never();
        }
        const result = await next(args);
        if (tripped) {
          freeze();
          return never();
        }
        if (frozen) return never();
        return result;
      },
      { step: 'initialize', name: 'crashGate' },
    );
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

try {
  // Cold start first, as in a Lambda sandbox; the event (the invocation) comes after.
  await installGate();
  const module = (await import(new URL(`../../../${spec.entry}`, import.meta.url).href)) as {
    handler: (event: unknown, context: Context) => Promise<unknown>;
  };
  process.stdout.write('ready\n');
  const event: unknown = JSON.parse(await readStdin());
  const result = await module.handler(event, lambdaContext(name, spec.timeoutSeconds));
  process.stdout.write(`result ${JSON.stringify(result ?? null)}\n`);
  process.exit(0);
} catch (error) {
  console.error(`handler-child: ${name} failed: ${(error as Error)?.stack ?? String(error)}`);
  process.exit(1);
}
