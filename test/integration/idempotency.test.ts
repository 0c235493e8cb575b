/**
 * The Idempotency-Key mechanism itself (shared/http/idempotency.ts) against DynamoDB
 * Local: a retry while the first request runs, and a retry after a first run that died.
 * The routes' own cases are in notifications.test.ts and follow-up.test.ts.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '#shared/errors.ts';
import { createIdempotency } from '#shared/http/idempotency.ts';
import type { ApiContext } from '#shared/http/middleware.ts';
import { currentTable } from '#test/support/current-runtime.ts';
import { useRuntime } from '#test/support/runtime.ts';

useRuntime();

const request = (appId: string, key: string, body: unknown, remainingMs = 5_000) => ({
  appId,
  event: {
    httpMethod: 'POST',
    resource: '/api/things',
    path: '/api/things',
    headers: { 'idempotency-key': key, 'content-type': 'application/json' },
    pathParameters: null,
    body: JSON.stringify(body),
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEvent,
  context: { getRemainingTimeInMillis: () => remainingMs } as unknown as ApiContext,
});

const created = (id: string): APIGatewayProxyResult => ({
  statusCode: 201,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ data: { id } }),
});

describe('Idempotency-Key', () => {
  it('answers 409 in progress to a retry while the first request runs, then the first answer', async () => {
    const { idempotent } = createIdempotency(currentTable());
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let runs = 0;
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const route = idempotent('thg', async ({ resourceId }) => {
      runs += 1;
      started();
      await held;
      return created(resourceId);
    });
    const first = route(request('app-a', 'key-1', { n: 1 }));
    await running;
    await expect(route(request('app-a', 'key-1', { n: 1 }))).rejects.toMatchObject({
      code: 'ERR_CONFLICT',
      message: expect.stringMatching(/still in progress; retry in a few seconds/),
    });
    release();
    const answer = await first;
    const replay = await route(request('app-a', 'key-1', { n: 1 }));
    expect(runs).toBe(1);
    expect(replay.statusCode).toBe(201);
    expect(replay.body).toBe(answer.body);
    expect(replay.headers).toMatchObject({ 'idempotent-replayed': 'true' });
  });

  it('lets a retry take over a first run that died, with the same resource id', async () => {
    const { idempotent } = createIdempotency(currentTable());
    const seen: { resourceId: string; resumed: boolean }[] = [];
    let fail = true;
    const route = idempotent('thg', async ({ resourceId, resumed }) => {
      seen.push({ resourceId, resumed });
      if (fail) throw new Error('the store call timed out');
      return created(resourceId);
    });
    await expect(route(request('app-b', 'key-2', { n: 2 }))).rejects.toThrow('timed out');
    fail = false;
    const retry = await route(request('app-b', 'key-2', { n: 2 }));
    expect(seen).toEqual([
      { resourceId: expect.stringMatching(/^thg_/), resumed: false },
      { resourceId: seen[0]?.resourceId, resumed: true },
    ]);
    expect(JSON.parse(retry.body).data.id).toBe(seen[0]?.resourceId);
  });

  it('frees the key after a 4xx: the corrected retry runs', async () => {
    const { idempotent } = createIdempotency(currentTable());
    let runs = 0;
    const route = idempotent('thg', async ({ resourceId }) => {
      runs += 1;
      if (runs === 1) throw new InvalidInputError('name is missing', { field: 'name' });
      return created(resourceId);
    });
    await expect(route(request('app-c', 'key-3', { n: 3 }))).rejects.toMatchObject({
      code: 'ERR_BAD_REQUEST',
    });
    const retry = await route(request('app-c', 'key-3', { n: 3 }));
    expect(retry.statusCode).toBe(201);
    expect(runs).toBe(2);
  });
});
