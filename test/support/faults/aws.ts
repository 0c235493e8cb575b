/**
 * Fault proxies in front of all three emulators, for `startLocalRuntime({ wrapAws })`:
 * every handler, event source and test helper of the process then talks to AWS through
 * them. Faults start off; a test turns them on with `set`, and off again before it
 * checks the outcome.
 */
import { type AwsService, type FaultProxy, type FaultRule, startFaultProxy } from './proxy.ts';

export type FaultRules = Partial<Record<AwsService, readonly FaultRule[]>>;

export interface AwsFaults {
  readonly dynamodb: FaultProxy;
  readonly sqs: FaultProxy;
  readonly s3: FaultProxy;
  readonly seed: number;
  /** Replaces the rules of the services named (the others keep theirs). */
  set(rules: FaultRules): void;
  /** Turns every fault off. */
  clear(): void;
  /** Faults injected so far, by `service:operation:kind`. */
  injected(): Record<string, number>;
}

const endpointVariables: Record<AwsService, string> = {
  dynamodb: 'AWS_ENDPOINT_URL_DYNAMODB',
  sqs: 'AWS_ENDPOINT_URL_SQS',
  s3: 'AWS_ENDPOINT_URL_S3',
};

/**
 * A `wrapAws` for the local runtime that also hands the proxies to `ready`. The seed
 * comes from `FAULT_SEED` when set, so a failing run can be replayed.
 */
export function faultyAws(
  ready: (faults: AwsFaults) => void,
  seed = Number(process.env.FAULT_SEED) || 20261127,
) {
  return async (env: Record<string, string>) => {
    const started: Partial<Record<AwsService, FaultProxy>> = {};
    const services: AwsService[] = ['dynamodb', 'sqs', 's3'];
    try {
      for (const [i, service] of services.entries()) {
        const target = env[endpointVariables[service]];
        if (!target)
          throw new Error(
            `${endpointVariables[service]} is not set: no ${service} to put faults in front of`,
          );
        started[service] = await startFaultProxy({ service, target, seed: seed + i });
      }
    } catch (error) {
      for (const proxy of Object.values(started)) await proxy.stop();
      throw error;
    }
    const proxies = started as Record<AwsService, FaultProxy>;
    const faults: AwsFaults = {
      ...proxies,
      seed,
      set(rules) {
        for (const [service, list] of Object.entries(rules) as [AwsService, FaultRule[]][]) {
          proxies[service].setRules(list);
        }
      },
      clear() {
        for (const proxy of Object.values(proxies)) proxy.setRules([]);
      },
      injected() {
        const all: Record<string, number> = {};
        for (const [service, proxy] of Object.entries(proxies)) {
          for (const [key, n] of Object.entries(proxy.injected())) all[`${service}:${key}`] = n;
        }
        return all;
      },
    };
    ready(faults);
    // SQS clients send to the host of the queue URL, not their endpoint: point the URLs at the proxy too.
    const viaProxy = (url: string | undefined) =>
      url && new URL(new URL(url).pathname, proxies.sqs.endpoint).href;
    return {
      env: {
        ...env,
        ...(env.DELIVERY_QUEUE_URL ? { DELIVERY_QUEUE_URL: viaProxy(env.DELIVERY_QUEUE_URL) as string } : {}),
        ...(env.DEAD_LETTER_QUEUE_URL
          ? { DEAD_LETTER_QUEUE_URL: viaProxy(env.DEAD_LETTER_QUEUE_URL) as string }
          : {}),
        AWS_ENDPOINT_URL_DYNAMODB: proxies.dynamodb.endpoint,
        AWS_ENDPOINT_URL_SQS: proxies.sqs.endpoint,
        AWS_ENDPOINT_URL_S3: proxies.s3.endpoint,
      },
      async stop() {
        for (const proxy of Object.values(proxies)) await proxy.stop();
      },
    };
  };
}
