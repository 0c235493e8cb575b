/**
 * Holds dispatch runs at their first checkpoint commit: a page of theirs is on the queue,
 * its checkpoint and counters not yet moved. Built into a run with
 * `createSendDispatcher(gate.wrap)` (functions/send-campaign.ts).
 */
import type { DispatchPorts } from '#shared/delivery/dispatch.ts';

export interface DispatchGate {
  /** Wraps one run's ports: its first commit waits at the gate. */
  wrap(ports: DispatchPorts): DispatchPorts;
  /** Resolves once `runs` wrapped runs each wait at the gate (so they overlap). */
  readonly reached: Promise<void>;
  /** Lets every held commit, and every later one, go on. */
  open(): void;
}

export function dispatchGate(runs = 1): DispatchGate {
  let arrived = 0;
  let reach!: () => void;
  let open!: () => void;
  const reached = new Promise<void>((r) => {
    reach = r;
  });
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return {
    reached,
    open,
    wrap(ports) {
      let first = true;
      return {
        ...ports,
        checkpoints: {
          ...ports.checkpoints,
          async commit(...args) {
            if (first) {
              first = false;
              arrived += 1;
              if (arrived === runs) reach();
              await opened;
            }
            return ports.checkpoints.commit(...args);
          },
        },
      };
    },
  };
}
