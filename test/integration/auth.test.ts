import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';

const runtime = useRuntime();
const run = promisify(execFile);

async function get(path: string, headers: Record<string, string>) {
  return apiClient(runtime.current.url).request<any>('GET', path, { headers });
}

describe('authentication', () => {
  it('rejects a request without appId and apiKey with 401', async () => {
    const res = await get('/api/campaigns', {});
    expect(res.status).toBe(401);
    expect(res.body).toEqual({
      error: {
        code: 'ERR_UNAUTHORIZED',
        message: 'Missing credentials: send the appId and apiKey headers of your app.',
        details: {},
      },
    });
  });

  it('rejects a request with only one of the two headers', async () => {
    const { appId, apiKey } = await newApp('auth');
    expect((await get('/api/templates', { appId })).status).toBe(401);
    expect((await get('/api/templates', { apiKey })).status).toBe(401);
  });

  it('rejects a wrong key, an unknown app, and the key of another app with the same 401', async () => {
    const a = await newApp('auth');
    const b = await newApp('auth');
    const attempts = [
      { appId: a.appId, apiKey: 'ck_wrong' },
      { appId: 'no-such-app', apiKey: a.apiKey },
      { appId: a.appId, apiKey: b.apiKey },
    ];
    for (const headers of attempts) {
      const res = await get('/api/templates', headers);
      expect(res.status).toBe(401);
      expect(res.body.error).toEqual({
        code: 'ERR_UNAUTHORIZED',
        message: 'Invalid credentials: the appId and apiKey do not match an app.',
        details: {},
      });
    }
  });

  it('answers a malformed or oversized appId or apiKey header with a 401 naming the rule, not a 500', async () => {
    const { appId, apiKey } = await newApp('auth');
    const cases: [Record<string, string>, RegExp][] = [
      [{ appId: 'a'.repeat(5_000), apiKey }, /appId header must be 1-64 letters.*5000 characters/],
      [{ appId: 'app/../other', apiKey }, /appId header must be 1-64 letters/],
      [{ appId, apiKey: `ck_${'x'.repeat(10_000)}` }, /apiKey header is at most 256 characters/],
    ];
    for (const [headers, message] of cases) {
      const res = await get('/api/templates', headers);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('ERR_UNAUTHORIZED');
      expect(res.body.error.message).toMatch(message);
      // The header's value is never quoted back.
      expect(JSON.stringify(res.body)).not.toContain('a'.repeat(100));
    }
    // The app itself still works.
    expect((await get('/api/templates', { appId, apiKey })).status).toBe(200);
  });

  it.each([
    ['appId', 'apiKey'],
    ['appid', 'apikey'],
    ['APPID', 'APIKEY'],
    ['AppId', 'ApiKey'],
  ])('accepts the headers named %s and %s', async (appHeader, keyHeader) => {
    const { appId, apiKey } = await newApp('auth');
    const res = await get('/api/campaigns', { [appHeader]: appId, [keyHeader]: apiKey });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: [], meta: { next: null } });
  });

  it('answers 401 before reading the body or looking up the ids (nothing about them leaks)', async () => {
    const a = await newApp('auth');
    const api = apiClient(runtime.current.url, { appId: a.appId, apiKey: 'ck_wrong' });
    const answers = [
      await api.request<any>('POST', '/api/campaigns', {
        body: '{not json',
        headers: { 'content-type': 'application/json' },
      }),
      await api.get('/api/campaigns/cmp_does_not_exist'),
      await api.post('/api/campaigns/cmp_does_not_exist/send'),
      await api.request<any>('POST', '/api/campaigns/upload', {
        body: 'x',
        headers: { 'content-type': 'text/plain' },
      }),
    ];
    for (const res of answers) {
      expect(res.status).toBe(401);
      expect(res.body.error.message).toBe('Invalid credentials: the appId and apiKey do not match an app.');
    }
  });

  it('accepts the seeded local app', async () => {
    const { appId, apiKey } = runtime.current;
    expect((await get('/api/templates', { appId, apiKey })).status).toBe(200);
  });

  it('answers a method a path does not support with 405', async () => {
    const { appId, apiKey } = await newApp('auth');
    const res = await apiClient(runtime.current.url, { appId, apiKey }).request<any>(
      'DELETE',
      '/api/templates',
    );
    expect(res.status).toBe(405);
    expect(res.body.error.code).toBe('ERR_METHOD_NOT_ALLOWED');
  });
});

describe('npm run app:create', () => {
  const script = 'scripts/app-create.ts';
  const env = () => ({ ...process.env, ...runtime.current.aws.env });

  it('creates an app and prints a key that works, once per run', async () => {
    const appId = `cli-${Math.random().toString(36).slice(2, 10)}`;
    // Through npm, as a user runs it (npm and node from PATH, as for every npm script).
    const first = await run('npm', ['run', '--silent', 'app:create', '--', appId], { env: env() });
    const key = first.stdout.match(/apiKey\s+(\S+)/)?.[1];
    expect(first.stdout).toContain(`App '${appId}' has a new API key`);
    expect(key).toMatch(/^ck_[A-Za-z0-9_-]{43}$/);

    const second = await run(process.execPath, [script, appId], { env: env() });
    const secondKey = second.stdout.match(/apiKey\s+(\S+)/)?.[1];
    expect(secondKey).not.toBe(key);

    for (const apiKey of [key, secondKey] as string[]) {
      const res = await get('/api/templates', { appId, apiKey });
      expect(res.status).toBe(200);
    }
  });

  it('refuses an invalid appId with usage and exit code 2', async () => {
    const failed = await run(process.execPath, [script, 'bad app!'], { env: env() }).catch((e) => e);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain("appId 'bad app!' is invalid");
    expect(failed.stderr).toContain('usage: npm run app:create -- <appId>');
  });

  it('refuses to run without an appId', async () => {
    const failed = await run(process.execPath, [script], { env: env() }).catch((e) => e);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain('usage:');
  });

  it('says which setting is missing when no table is configured', async () => {
    const { TABLE_NAME: _omit, ...rest } = env();
    const failed = await run(process.execPath, [script, 'cli-x'], { env: rest }).catch((e) => e);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('TABLE_NAME');
  });
});
