/**
 * Integration-test harness: one local runtime (embedded AWS + HTTP front + event
 * sources) per test file, started in `beforeAll` and stopped in `afterAll`, and a
 * small HTTP client that speaks the API's conventions.
 */
import { afterAll, beforeAll } from 'vitest';
import { type LocalRuntime, type LocalRuntimeOptions, startLocalRuntime } from '#infra/local/runtime.ts';
import { createAppsStore } from '#shared/store/apps.ts';
import { currentRuntime, setCurrentRuntime } from '#test/support/current-runtime.ts';

export { currentRuntime } from '#test/support/current-runtime.ts';

export interface Credentials {
  appId: string;
  apiKey: string;
}

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/** Starts a runtime for this test file; read it inside tests (after `beforeAll`). */
export function useRuntime(options: LocalRuntimeOptions = {}): { readonly current: LocalRuntime } {
  const holder: { current?: LocalRuntime } = {};
  beforeAll(async () => {
    holder.current = await startLocalRuntime({ port: 0, ...options });
    setCurrentRuntime(holder.current);
  });
  afterAll(async () => {
    setCurrentRuntime(undefined);
    await holder.current?.stop();
  });
  return {
    get current() {
      if (!holder.current) throw new Error('the runtime is not started yet: use it inside a test');
      return holder.current;
    },
  };
}

/** A fresh app with its own key, so tests never see each other's data. */
export async function newApp(prefix = 'app'): Promise<Credentials> {
  const appId = `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
  return { appId, apiKey: await createAppsStore(currentRuntime().table).addApiKey(appId) };
}

/** An HTTP client for the API at `baseUrl` acting as `credentials`. */
export function apiClient(baseUrl: string, credentials?: Credentials) {
  async function request<T>(
    method: string,
    path: string,
    init: { json?: unknown; body?: RequestInit['body']; headers?: Record<string, string> } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...init.headers };
    if (credentials) {
      headers.appId = credentials.appId;
      headers.apiKey = credentials.apiKey;
    }
    let body = init.body;
    if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    const res = await fetch(`${baseUrl}${path}`, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON: keep the text.
    }
    return { status: res.status, headers: res.headers, body: parsed as T };
  }
  return {
    request,
    get: <T = any>(path: string) => request<T>('GET', path),
    post: <T = any>(path: string, json?: unknown) => request<T>('POST', path, { json }),
    put: <T = any>(path: string, json?: unknown) => request<T>('PUT', path, { json }),
  };
}
