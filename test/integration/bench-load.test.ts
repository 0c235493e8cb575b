/**
 * `npm run bench:load` with tiny parameters, so the load test cannot rot: it runs as a
 * user runs it (a child process starting its own runtime) and its JSON report must show
 * traffic, no error and exact uploads. No timing is asserted.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { LoadReport } from '#bench/load.ts';

async function benchLoad(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['bench/load.ts', ...args], {
    env: { ...process.env, AWS_ENDPOINT_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += String(d);
  });
  child.stderr.on('data', (d) => {
    stderr += String(d);
  });
  const [code] = await once(child, 'exit');
  return { code, stdout, stderr };
}

describe('npm run bench:load', () => {
  it('creates and reads campaigns under load and imports every upload exactly, with no error', async () => {
    const run = await benchLoad([
      '--clients',
      '4',
      '--seconds',
      '2',
      '--uploads',
      '2',
      '--rows',
      '200',
      '--json',
    ]);
    const last = run.stdout.trim().split('\n').pop() ?? '';
    expect(last.startsWith('{'), `no JSON report:\n${run.stdout}\n${run.stderr}`).toBe(true);
    const report = JSON.parse(last) as LoadReport;

    expect(report.errors, JSON.stringify(report)).toBe(0);
    expect(report.load.errorsByStatus).toEqual({});
    expect(report.load.clients).toBe(4);
    expect(report.load.all.requests).toBeGreaterThan(0);
    expect(report.load.all.perSecond).toBeGreaterThan(0);
    expect(Object.keys(report.load.operations).sort()).toEqual(['create', 'get', 'list']);

    expect(report.uploads).toMatchObject({ uploads: 2, rows: 200, path: 'direct', exact: 2, inexact: [] });
    expect(report.uploads.rowsPerSecond).toBeGreaterThan(0);
    expect(report.ok).toBe(true);
    expect(run.code).toBe(0);
  });

  it('refuses a target that is not on this machine, before sending anything', async () => {
    const run = await benchLoad(['--url', 'http://192.0.2.1:3000', '--json']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--url must be a loopback address');
    expect(run.stdout).toBe('');
  });
});
