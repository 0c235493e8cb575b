/**
 * API latency: 50 concurrent clients creating and reading campaigns through the local
 * runtime (first target p99 < 50 ms, since replaced in docs/design.md), next to the same clients against a bare
 * node:http server on loopback, measured in the same run.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startLocalRuntime } from '#infra/local/runtime.ts';
import { runLoad } from './lib/load.ts';
import type { LatencySummary } from './lib/stats.ts';

export interface ApiBench {
  api: LatencySummary;
  bare: LatencySummary;
}

export async function benchApi(
  options: { concurrency?: number; durationMs?: number } = {},
): Promise<ApiBench> {
  const concurrency = options.concurrency ?? 50;
  const durationMs = options.durationMs ?? 15_000;
  const maxRequests = 200_000;

  const bareServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"data":{}}');
  });
  await new Promise<void>((resolve) => bareServer.listen(0, '127.0.0.1', resolve));
  const bareUrl = `http://127.0.0.1:${(bareServer.address() as AddressInfo).port}`;
  const bare = await runLoad({
    baseUrl: bareUrl,
    headers: {},
    concurrency,
    durationMs,
    maxRequests,
    script: 'bare',
  });
  await new Promise<void>((resolve) => bareServer.close(() => resolve()));

  const runtime = await startLocalRuntime({ port: 0 });
  try {
    const headers = { appId: runtime.appId, apiKey: runtime.apiKey };
    const json = { ...headers, 'content-type': 'application/json' };
    const template = (await (
      await fetch(`${runtime.url}/api/templates`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({
          name: 'bench',
          body: 'Hello {{name}}',
          variableSchema: { name: { type: 'string' } },
        }),
      })
    ).json()) as { data: { id: string } };
    const approved = await fetch(`${runtime.url}/api/templates/${template.data.id}`, {
      method: 'PUT',
      headers: json,
      body: JSON.stringify({ status: 'approved' }),
    });
    if (approved.status !== 200)
      throw new Error(`could not approve the bench template: ${await approved.text()}`);
    const plan = {
      baseUrl: runtime.url,
      headers,
      concurrency,
      durationMs,
      maxRequests,
      script: 'campaigns' as const,
      templateId: template.data.id,
    };
    // Warm up first: DynamoDB Local's JIT makes its first seconds several times slower.
    await runLoad({ ...plan, durationMs: Math.min(5000, durationMs) });
    const api = await runLoad(plan);
    return { api, bare };
  } finally {
    await runtime.stop();
  }
}
