/**
 * Crash tests, the test's side: starts `handler-child.ts` with an event, waits for it to
 * reach a point of its progress, and SIGKILLs it there; the seeded choice of points.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { FunctionName } from '#infra/functions.ts';
import { seededRandom } from '#test/support/flaky-channel.ts';

const childPath = fileURLToPath(new URL('./handler-child.ts', import.meta.url));

/** How a child run ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The handler's answer (the JSON after `result `), when it returned. */
  result?: unknown;
}

export interface HandlerChild {
  readonly pid: number;
  /** Hands the (warm) child its event: the invocation. */
  invoke(event: unknown): HandlerChild;
  /** Hands the (warm) child its event: the invocation. */
  invoke(event: unknown): HandlerChild;
  /** Resolves when the child has loaded its handler and waits for the event. */
  readonly ready: Promise<void>;
  /** Resolves when the child reports its `CRASH_GATE` reached (never, without a gate). */
  readonly gated: Promise<void>;
  readonly exited: Promise<ChildExit>;
  /** SIGKILL now, and the exit. */
  kill(): Promise<ChildExit>;
}

/** Starts the real handler `name` in a child process, waiting for its event; `env` adds to this process's. */
export function spawnHandler(name: FunctionName, env: Record<string, string> = {}): HandlerChild {
  const child = spawn(process.execPath, [childPath, name], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let onGate: () => void = () => undefined;
  const gated = new Promise<void>((resolve) => {
    onGate = resolve;
  });
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (/^gate$/m.test(stdout)) onGate();
    if (/^ready$/m.test(stdout)) onReady();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<ChildExit>((resolve) => {
    child.on('close', (code, signal) => {
      const line = /^result (.*)$/m.exec(stdout)?.[1];
      resolve({ code, signal, stdout, stderr, ...(line === undefined ? {} : { result: JSON.parse(line) }) });
    });
  });
  const handle: HandlerChild = {
    pid: child.pid as number,
    invoke(event) {
      child.stdin.end(JSON.stringify(event));
      return handle;
    },
    gated,
    ready,
    exited,
    async kill() {
      child.kill('SIGKILL');
      return exited;
    },
  };
  return handle;
}

/** Runs the real handler `name` with `event` in a child process. */
export function startHandler(
  name: FunctionName,
  event: unknown,
  env: Record<string, string> = {},
): HandlerChild {
  return spawnHandler(name, env).invoke(event);
}

/** Runs the handler to its end. */
export function runHandler(name: FunctionName, event: unknown, env: Record<string, string> = {}) {
  return startHandler(name, event, env).exited;
}

/**
 * Runs the handler until `reached` is true (polled) or its gate trips, then SIGKILLs it.
 * Returns the exit; `killed` is false when the handler ended before the point.
 */
export async function killWhen(
  child: HandlerChild,
  reached?: () => Promise<boolean>,
  intervalMs = 25,
): Promise<ChildExit & { killed: boolean }> {
  let done = false;
  const ended = child.exited.then((exit) => {
    done = true;
    return exit;
  });
  const polled = (async () => {
    if (!reached) return new Promise<void>(() => undefined);
    while (!done && !(await reached())) await sleep(intervalMs);
  })();
  await Promise.race([child.gated, polled, ended]);
  if (done) return { ...(await ended), killed: false };
  return { ...(await child.kill()), killed: true };
}

/** The crash seed: `CRASH_SEED`, else a fixed one, so a failure reproduces. */
export const crashSeed = Number(process.env.CRASH_SEED ?? 20261127);

/** A seeded generator of kill points, and the text that names the seed in every assertion. */
export function crashRandom(salt: number) {
  const random = seededRandom(crashSeed + salt);
  return {
    /** An integer in [min, max]. */
    int: (min: number, max: number) => min + Math.floor(random() * (max - min + 1)),
    seedText: `CRASH_SEED=${crashSeed}`,
  };
}

/**
 * Each crash test starts several Node processes one after the other (each a cold start
 * of a handler): on a loaded machine that alone can take a minute, so they get longer
 * than the default test timeout. No assertion depends on time.
 */
export const CRASH_TEST_TIMEOUT_MS = 300_000;
