/**
 * `npm run bench -- --only deliver` with a small campaign, so the section cannot rot: it
 * runs as a user runs it (a child process starting its own runtime) and its JSON must
 * show every recipient delivered by both runs. No timing is asserted.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';

describe('npm run bench -- --only deliver', () => {
  it('delivers a small campaign with the runtime (outbox, and an app webhook) and with the bare loop, and reports all three', async () => {
    const child = spawn(
      process.execPath,
      ['bench/run.ts', '--only', 'deliver', '--recipients', '250', '--json'],
      { env: { ...process.env, AWS_ENDPOINT_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += String(d);
    });
    child.stderr.on('data', (d) => {
      stderr += String(d);
    });
    const [code] = await once(child, 'exit');
    expect(code, stderr).toBe(0);
    const last = stdout.trim().split('\n').pop() ?? '';
    const report = JSON.parse(last) as { deliver: Record<string, number> };
    expect(Object.keys(report.deliver).sort()).toEqual([
      'bareRecipientsPerSecond',
      'ratio',
      'recipients',
      'recipientsPerSecond',
      'seconds',
      'webhookRatio',
      'webhookRecipientsPerSecond',
      'webhookSeconds',
    ]);
    expect(report.deliver.recipients).toBe(250);
    for (const key of [
      'seconds',
      'recipientsPerSecond',
      'bareRecipientsPerSecond',
      'ratio',
      'webhookSeconds',
      'webhookRecipientsPerSecond',
      'webhookRatio',
    ]) {
      expect(report.deliver[key], key).toBeGreaterThan(0);
    }
  }, 300_000);
});
