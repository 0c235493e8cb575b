/**
 * The campaign dashboard (dashboard/): bundled with esbuild from dashboard/src into
 * three static files, either in memory for the local runtime (which serves it at `/`)
 * or written to dashboard/dist by `npm run dashboard:build` for any static host.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build } from 'esbuild';

const root = fileURLToPath(new URL('../../dashboard/', import.meta.url));

/** A static file of the dashboard: its name in dist/ and its bytes. */
export interface DashboardFile {
  name: 'index.html' | 'app.js' | 'app.css';
  contentType: string;
  body: Buffer;
}

/** How esbuild bundles the dashboard, in memory (the output paths only name the files). */
export const dashboardBuildOptions = {
  entryPoints: [`${root}src/main.tsx`],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  legalComments: 'none',
  write: false,
  outfile: `${root}dist/app.js`,
  logLevel: 'silent',
} satisfies BuildOptions;

/** Bundles the dashboard (Preact, uPlot and the app) into index.html, app.js and app.css. */
export async function bundleDashboard(): Promise<DashboardFile[]> {
  const result = await build(dashboardBuildOptions);
  const js = result.outputFiles.find((f) => f.path.endsWith('app.js'));
  // The CSS the page's modules import (app.css, a library's own stylesheet), in import order.
  const css = result.outputFiles.find((f) => f.path.endsWith('app.css'));
  if (!js || !css) throw new Error('esbuild produced no app.js or app.css for the dashboard');
  return [
    {
      name: 'index.html',
      contentType: 'text/html; charset=utf-8',
      body: await readFile(`${root}index.html`),
    },
    { name: 'app.js', contentType: 'text/javascript; charset=utf-8', body: Buffer.from(js.contents) },
    { name: 'app.css', contentType: 'text/css; charset=utf-8', body: Buffer.from(css.contents) },
  ];
}

/** What the local runtime tells its own dashboard: where the API is and the seeded app. */
export interface LocalDashboardConfig {
  appId: string;
  apiKey?: string;
  directUploadMaxBytes: number;
}

/**
 * The HTTP front's fallback for paths outside `/api`: the dashboard's files, bundled on
 * the first request (so tests that never open it pay nothing), and `/config.json` with
 * the local app's credentials, which only the local runtime hands out.
 */
export function dashboardFallback(
  config: () => LocalDashboardConfig,
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  let files: Promise<DashboardFile[]> | undefined;
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = new URL(req.url ?? '/', 'http://local').pathname;
    if (path === '/config.json') {
      send(res, req, 'application/json; charset=utf-8', Buffer.from(JSON.stringify(config())));
      return true;
    }
    const name = path === '/' || path === '/index.html' ? 'index.html' : path.slice(1);
    files ??= bundleDashboard().catch((error: unknown) => {
      files = undefined;
      throw error;
    });
    const file = (await files).find((f) => f.name === name);
    if (!file) return false;
    send(res, req, file.contentType, file.body);
    return true;
  };
}

function send(res: ServerResponse, req: IncomingMessage, contentType: string, body: Buffer): void {
  res.writeHead(200, {
    'content-type': contentType,
    'content-length': body.length,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
