/**
 * `npm run dashboard:build`: writes the campaign dashboard as static files
 * (dashboard/dist/index.html, app.js, app.css) for any static host (docs/dashboard.md).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { bundleDashboard } from '#infra/local/dashboard.ts';

const outdir = fileURLToPath(new URL('../dashboard/dist/', import.meta.url));
await mkdir(outdir, { recursive: true });
for (const file of await bundleDashboard()) {
  await writeFile(`${outdir}${file.name}`, file.body);
  console.log(`dashboard/dist/${file.name}  ${(file.body.length / 1024).toFixed(1)} KiB`);
}
