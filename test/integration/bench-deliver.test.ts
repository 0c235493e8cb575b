/**
 * `npm run bench -- --only deliver` with a small campaign, so the section cannot rot: it
 * runs as a user runs it (a child process starting its own runtime) and its JSON must
 * show every recipient delivered by both runs. No timing is asserted.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';

describe('npm run bench -- --only deliver', () => {
  it('delivers a small campaign with the runtime (outbox, an app webhook, a paced one) and with the bare loop, and reports all four', async () => {
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
    const report = JSON.parse(last) as {
      deliver: Record<string, number> & { paced: Record<string, number> };
    };
    expect(Object.keys(report.deliver).sort()).toEqual([
      'bareRecipientsPerSecond',
      'paced',
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
    // The paced phase: every recipient through a webhook at 500/s, never more than rate + burst in a second.
    const { paced } = report.deliver;
    expect(paced).toMatchObject({ recipients: 250, ratePerSecond: 500, burst: 500 });
    expect(paced.achievedPerSecond).toBeGreaterThan(0);
    expect(paced.mostInOneSecond).toBeGreaterThan(0);
    expect(paced.mostInOneSecond).toBeLessThanOrEqual(1000);
  }, 300_000);
});
