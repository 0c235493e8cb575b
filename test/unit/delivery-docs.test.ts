/**
 * docs/delivery.md states the queue's timings and the settings' defaults; they must be the
 * ones shared/resources.ts, shared/config.ts and the consumer use, so a change to either
 * fails here until the page says so too.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WEBHOOK_DEFAULTS, webhookCallBudgetMs } from '#shared/adapters/webhook-channel.ts';
import { claimCutoffMs } from '#shared/delivery/time-budget.ts';
import { deliveryQueue } from '#shared/resources.ts';
import { backoffDelay } from '#shared/retry.ts';

/** The page with every run of whitespace (line breaks too) as one space. */
const page = readFileSync(new URL('../../docs/delivery.md', import.meta.url), 'utf8').replace(/\s+/g, ' ');
/** Every "<n> s" the page gives for a named timing. */
const secondsNamed = (name: RegExp) =>
  [...page.matchAll(new RegExp(`${name.source}[^.]{0,40}?\\((\\d+) s`, 'g'))].map((m) => Number(m[1]));

describe('docs/delivery.md', () => {
  it('gives the consumer timeout and visibility timeout of shared/resources.ts', () => {
    const timeouts = secondsNamed(/consumer's timeout/);
    const visibility = secondsNamed(/visibility timeout/);
    expect(timeouts.length).toBeGreaterThan(0);
    expect(visibility.length).toBeGreaterThan(0);
    expect(new Set(timeouts)).toEqual(new Set([deliveryQueue.consumerTimeoutSeconds]));
    expect(new Set(visibility)).toEqual(new Set([deliveryQueue.visibilityTimeoutSeconds]));
  });

  it('gives the number of receives before the dead-letter queue', () => {
    expect(page).toContain(`${deliveryQueue.maxReceiveCount} receives before the DLQ`);
    expect(page).toContain(`gave up after ${deliveryQueue.maxReceiveCount} attempts`);
  });

  it('names no other consumer timeout', () => {
    const stale = [...page.matchAll(/consumer's (\d+) s/g)].map((m) => Number(m[1]));
    expect(stale.filter((s) => s !== deliveryQueue.consumerTimeoutSeconds)).toEqual([]);
  });

  it('gives every other number of the queue as shared/resources.ts has it', () => {
    const all = (pattern: RegExp) => [...page.matchAll(pattern)].map((m) => Number(m[1]));
    const receives = [
      ...all(/(\d+) receives/g),
      ...all(/`maxReceiveCount`, (\d+)/g),
      ...all(/gave up after (\d+) attempts/g),
    ];
    expect(receives.length).toBeGreaterThan(5);
    expect(new Set(receives)).toEqual(new Set([deliveryQueue.maxReceiveCount]));
    // "30 s of its 90 s": the consumer's timeout again.
    const timeouts = [...all(/of its (\d+) s/g), ...all(/the queue's (\d+) s visibility timeout/g)];
    expect(timeouts).toEqual([
      deliveryQueue.consumerTimeoutSeconds,
      deliveryQueue.consumerTimeoutSeconds,
      deliveryQueue.visibilityTimeoutSeconds,
    ]);
    expect(page).toContain(`(${deliveryQueue.visibilityTimeoutSeconds} s, six times the timeout)`);
    expect(deliveryQueue.visibilityTimeoutSeconds).toBe(6 * deliveryQueue.consumerTimeoutSeconds);
    const kept = all(/DLQ \(kept (\d+) days\)/g);
    expect(kept.length).toBeGreaterThan(0);
    expect(new Set(kept)).toEqual(new Set([deliveryQueue.deadLetter.retentionSeconds / 86_400]));
  });

  it("gives the longest webhook call and the claim cutoff that the defaults and the consumer's timeout make", () => {
    const budget = webhookCallBudgetMs(WEBHOOK_DEFAULTS);
    const cutoff = claimCutoffMs(WEBHOOK_DEFAULTS, deliveryQueue.consumerTimeoutSeconds * 1000);
    const { maxAttempts, timeoutMs } = WEBHOOK_DEFAULTS;
    // The waits between tries are each below their backoff ceilings (a random draw of 1).
    const backoffMs = Array.from({ length: maxAttempts - 1 }, (_, i) =>
      backoffDelay(i + 1, WEBHOOK_DEFAULTS, 1),
    );
    const tries = `${maxAttempts} tries × ${timeoutMs / 1000} s timeout`;
    const waits = backoffMs.reduce((a, b) => a + b, 0);
    expect(page).toContain(
      `${tries} + backoff under ${waits / 1000} s ≈ ${(maxAttempts * timeoutMs + waits) / 1000} s, or ${budget / 1000} s`,
    );
    expect(page).toContain(`(${budget / 1000} s with the defaults`);
    expect(page).toContain(`claim cutoff (${cutoff / 1000} s by default)`);
    expect([...page.matchAll(/(\d+) s of its \d+ s/g)].map((m) => Number(m[1]))).toEqual([
      cutoff / 1000,
      cutoff / 1000,
    ]);
  });
});

/** The settings tables' rows: `| \`NAME\` | default | meaning |`. */
const rows = [...page.matchAll(/\| `([A-Z][A-Z0-9_]+)` *\| *([^|]+?) *\|/g)].map(([, name, cell]) => ({
  name: name as string,
  cell: cell as string,
}));
/** Read by the local runtime itself, not by shared/config.ts. */
const NOT_IN_CONFIG = new Set(['LOCAL_DELIVERY_CONCURRENCY']);

/**
 * What every configuration section reads with the page's variables unset but for `set`:
 * the defaults, merged; and the sections' errors.
 */
async function configWith(set: Record<string, string>) {
  for (const { name } of rows) {
    vi.stubEnv(name, set[name] ?? '');
    if (set[name] === undefined) delete process.env[name];
  }
  vi.resetModules();
  const config: Record<string, unknown> = await import('#shared/config.ts');
  const values: Record<string, unknown> = {};
  const errors: string[] = [];
  for (const [exported, read] of Object.entries(config)) {
    if (!exported.endsWith('Config') || typeof read !== 'function') continue;
    try {
      Object.assign(values, read());
    } catch (error) {
      errors.push((error as Error).message);
    }
  }
  return { values, errors };
}

/** The page's value in the variable's own unit: `5 s` of a `_MS` variable is 5000. */
function inUnitOf(name: string, value: string, unit: string | undefined): number {
  const n = Number(value.replace(/,/g, ''));
  if (name.endsWith('_MS') && unit === 's') return n * 1000;
  if (name.endsWith('_SECONDS') && unit === 'ms') return n / 1000;
  return n;
}

describe("docs/delivery.md's settings", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  const required = rows.filter((r) => r.cell === '— (required)').map((r) => r.name);
  const withRequired = () =>
    Object.fromEntries(required.map((name) => [name, 'arn:aws:x:us-east-1:123456789012:x']));

  it('gives the default shared/config.ts has for every variable of its tables', async () => {
    const { values } = await configWith(withRequired());
    const documented = rows.filter((r) => /^`[^`]*`$/.test(r.cell));
    expect(documented.length).toBeGreaterThan(15);
    const wrong = documented
      .filter(({ name }) => !NOT_IN_CONFIG.has(name))
      .filter(({ name, cell }) => !(name in values) || String(values[name]) !== cell.slice(1, -1))
      .map(
        ({ name, cell }) => `${name}: the page says ${cell}, shared/config.ts has ${String(values[name])}`,
      );
    expect(wrong).toEqual([]);
  });

  it('gives no default where shared/config.ts has none, and calls required what is', async () => {
    const { values } = await configWith(withRequired());
    const none = rows.filter((r) => r.cell.startsWith('—') || r.cell.startsWith('unset'));
    expect(none.length).toBeGreaterThan(4);
    for (const { name } of none.filter((r) => !required.includes(r.name))) {
      expect([undefined, false], name).toContain(values[name]);
    }
    expect(required.length).toBeGreaterThan(1);
    for (const name of required) {
      const { errors } = await configWith({ ...withRequired(), [name]: '' });
      expect(errors.join('\n'), name).toContain(`${name}: `);
    }
  });

  it('quotes the defaults it names in the text as shared/config.ts has them', async () => {
    const { values } = await configWith(withRequired());
    const quoted = [
      ...page.matchAll(/`([A-Z][A-Z0-9_]+)` \((?:default )?(\d[\d,.]*)(?: (ms|s))?[,)]/g),
    ].filter(([, name]) => name !== undefined && name in values);
    expect(quoted.length).toBeGreaterThan(6);
    const wrong = quoted
      .filter(
        ([, name, value, unit]) => inUnitOf(name as string, value as string, unit) !== values[name as string],
      )
      .map(([text, name]) => `${text}: shared/config.ts has ${String(values[name as string])}`);
    expect(wrong).toEqual([]);
    const base = values.WEBHOOK_BASE_DELAY_MS as number;
    const cap = (values.WEBHOOK_MAX_DELAY_MS as number) / 1000;
    expect(page).toContain(`full jitter (base ${base} ms, cap ${cap} s)`);
  });
});
