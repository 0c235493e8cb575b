import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '#infra/local/free-port.ts';

/**
 * Starts `npm start`'s entry as a user would, and resolves once it prints its banner.
 * As in CloudShell, which sets AWS_EXECUTION_ENV (the Tracer's sign of Lambda) too.
 */
async function start(
  port: number,
): Promise<{ child: ChildProcess; output: () => string; closed: Promise<unknown> }> {
  const child = spawn(process.execPath, ['infra/local/start.ts'], {
    env: { ...process.env, PORT: String(port), AWS_ENDPOINT_URL: '', AWS_EXECUTION_ENV: 'CloudShell' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Once its output is all read.
  const closed = once(child, 'close');
  let output = '';
  child.stdout?.on('data', (d) => {
    output += String(d);
  });
  child.stderr?.on('data', (d) => {
    output += String(d);
  });
  await expect.poll(() => output, { timeout: 60_000, interval: 100 }).toContain('Press Ctrl-C to stop.');
  return { child, output: () => output, closed };
}

/** Ports the banner names: the emulators' and the API's. */
function ports(output: string): number[] {
  return [...output.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('npm start', () => {
  it('serves the API with the seeded credentials and no tracing, prints start-up time, and stops cleanly on Ctrl-C', async () => {
    const port = await freePort();
    const { child, output, closed } = await start(port);
    expect(output()).toMatch(/ready in \d+ ms/);
    expect(output()).toContain('appId      local-app');
    expect(output()).toContain('apiKey     local-api-key');

    const anonymous = await fetch(`http://127.0.0.1:${port}/api/campaigns`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: { code: 'ERR_UNAUTHORIZED' } });

    const used = ports(output());
    expect(used.length).toBeGreaterThanOrEqual(4);
    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    for (const p of used) expect(await listening(p)).toBe(false);
    // The request ran the API's whole stack: tracing stayed off, with no X-Ray complaint.
    await closed;
    expect(output()).not.toMatch(/x-?ray|segment/i);
  });

  it('leaves no emulator running when it is killed outright', async () => {
    const port = await freePort();
    const { child, output } = await start(port);
    const used = ports(output());
    child.kill('SIGKILL');
    await once(child, 'exit');
    for (const p of used) {
      await expect.poll(() => listening(p), { timeout: 15_000, interval: 200 }).toBe(false);
    }
  });
});
