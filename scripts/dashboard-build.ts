/**
 * `npm run dashboard:build`: writes the campaign dashboard as static files
 * (dashboard/dist/index.html, app.js, app.css) for any static host (docs/dashboard.md).
 * An argument names another output folder.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleDashboard } from '#infra/local/dashboard.ts';

const outdir = process.argv[2] ?? fileURLToPath(new URL('../dashboard/dist/', import.meta.url));
await mkdir(outdir, { recursive: true });
for (const file of await bundleDashboard()) {
  const path = join(outdir, file.name);
  await writeFile(path, file.body);
  console.log(`${relative(process.cwd(), path)}  ${(file.body.length / 1024).toFixed(1)} KiB`);
}
