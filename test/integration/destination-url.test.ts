/**
 * `guardedDispatcher` over real sockets: a loopback server counts the requests that reach
 * it, so a refused connection is told from one that never had a server to reach. The
 * rules it applies are tested without I/O in test/unit/destination-url.test.ts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetch } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DESTINATION_ADDRESS_ERROR_CODE,
  guardedDispatcher,
  type Lookup,
} from '#shared/domain/destination-url.ts';

const onAws = { allowLoopback: false };
const local = { allowLoopback: true };

describe('guardedDispatcher', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  /** A loopback server counting the requests that reach it. */
  async function counting() {
    const state = { requests: 0, port: 0 };
    const server = createServer((_req, res) => {
      state.requests += 1;
      res.end('reached');
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    state.port = (server.address() as AddressInfo).port;
    return state;
  }

  async function refusalCause(promise: Promise<unknown>) {
    try {
      await promise;
    } catch (error) {
      return (error as { cause?: { code?: string; message?: string } }).cause;
    }
    throw new Error('expected the request to fail');
  }

  it('never connects to an IP literal in a forbidden range, and connects to loopback when local', async () => {
    const server = await counting();
    const url = `http://127.0.0.1:${server.port}/`;
    const cause = await refusalCause(fetch(url, { dispatcher: guardedDispatcher(onAws) }));
    expect(cause?.code).toBe(DESTINATION_ADDRESS_ERROR_CODE);
    expect(cause?.message).toBe(
      '127.0.0.1 is a loopback address, not allowed as a destination (rule "forbidden-address")',
    );
    expect(server.requests).toBe(0);

    const answer = await fetch(url, { dispatcher: guardedDispatcher(local) });
    expect(await answer.text()).toBe('reached');
    expect(server.requests).toBe(1);
  });

  it('checks the addresses a host name resolves to at connection time (DNS rebinding)', async () => {
    const server = await counting();
    // The name passed every check before; now it answers with a loopback address.
    const rebound: Lookup = async () => [{ address: '127.0.0.1', family: 4 }];
    const url = `http://rebound.example.com:${server.port}/`;
    const cause = await refusalCause(fetch(url, { dispatcher: guardedDispatcher(onAws, rebound) }));
    expect(cause?.code).toBe(DESTINATION_ADDRESS_ERROR_CODE);
    expect(cause?.message).toBe(
      'rebound.example.com (127.0.0.1) is a loopback address, not allowed as a destination (rule "forbidden-address")',
    );
    expect(server.requests).toBe(0);

    const answer = await fetch(url, { dispatcher: guardedDispatcher(local, rebound) });
    expect(await answer.text()).toBe('reached');
    expect(server.requests).toBe(1);
  });

  it('refuses a host name when any of its addresses is forbidden, even if the first is fine', async () => {
    const server = await counting();
    const mixed: Lookup = async () => [
      { address: '127.0.0.1', family: 4 },
      { address: '10.0.0.7', family: 4 },
    ];
    const cause = await refusalCause(
      fetch(`http://mixed.example.com:${server.port}/`, { dispatcher: guardedDispatcher(local, mixed) }),
    );
    expect(cause?.message).toBe(
      'mixed.example.com (10.0.0.7) is a private address, not allowed as a destination (rule "forbidden-address")',
    );
    expect(server.requests).toBe(0);
  });
});
