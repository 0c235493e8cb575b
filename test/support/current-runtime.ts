/**
 * The local runtime of this test file (`useRuntime` records it; each file loads this
 * module afresh), for helpers that work on its table without being handed it. No vitest
 * here, so the benchmarks load the same helpers and pass their runtime's table instead.
 */
import type { LocalRuntime } from '#infra/local/runtime.ts';
import type { Table } from '#shared/adapters/dynamodb-table.ts';

let started: LocalRuntime | undefined;

/** Records (or, with undefined, forgets) the runtime of this test file. */
export function setCurrentRuntime(runtime: LocalRuntime | undefined): void {
  started = runtime;
}

/** The runtime of this test file; only inside tests. */
export function currentRuntime(): LocalRuntime {
  if (!started) throw new Error('the runtime is not started yet: use it inside a test');
  return started;
}

/** The table of this test file's runtime (what the helpers default to). */
export const currentTable = (): Table => currentRuntime().table;
