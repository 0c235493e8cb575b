/**
 * Every store module is a factory over a table, and its module-level exports (the
 * handlers' store) read `TABLE_NAME` on first use, never when the module loads: so a
 * test or the local runtime imports any store before it has set the environment.
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';

const storeDir = new URL('shared/store/', new URL('../../', import.meta.url));
/** Store modules; `paging.ts` is the list endpoints' query helper, which every store passes its table. */
const storeFiles = readdirSync(storeDir).filter((f) => f.endsWith('.ts') && f !== 'paging.ts');

describe('store modules', () => {
  it('load with no table configured, each exporting a factory over a table', async () => {
    expect(storeFiles.length).toBeGreaterThanOrEqual(11);
    vi.stubEnv('TABLE_NAME', '');
    vi.resetModules();
    try {
      for (const file of storeFiles) {
        const module: Record<string, unknown> = await import(new URL(file, storeDir).href);
        const factories = Object.entries(module).filter(
          ([name, value]) => /^create\w+/.test(name) && typeof value === 'function' && value.length === 1,
        );
        expect(factories.length, `${file} exports a create…(table) factory`).toBeGreaterThanOrEqual(1);
      }
      // The handlers' store reads the table's configuration on its first call, naming what is missing.
      const { findApp } = await import('#shared/store/apps.ts');
      await expect(findApp('app-a')).rejects.toThrow(/Invalid table configuration: TABLE_NAME/);
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });
});
