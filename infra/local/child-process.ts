/**
 * Child processes that cannot outlive the runtime. Each child runs in its own process
 * group with a pipe on its stdin; when the parent exits for any reason, even SIGKILL,
 * the pipe closes and the child (or its guard shell) ends itself.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

export interface ManagedChild {
  readonly process: ChildProcess;
  /** Ends the whole process group: SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawns `command` in a new process group whose lifetime is tied to this process. */
export function spawnManaged(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): ManagedChild {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // Unref so an idle child never keeps the parent's event loop alive.
  child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr])
    (s as unknown as { unref?: () => void })?.unref?.();
  const exited = once(child, 'exit').then(() => undefined);
  let stopping: Promise<void> | undefined;
  return {
    process: child,
    stop(graceMs = 3000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        signalGroup(child, 'SIGTERM');
        const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
        // A guard shell may exit before what it guards; make sure the group is gone.
        signalGroup(child, 'SIGKILL');
      })();
      return stopping;
    },
  };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}
