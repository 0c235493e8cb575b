import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { ApiRequest } from '#shared/http/api-handler.ts';
import { idempotencyKey, requestHash } from '#shared/http/idempotency.ts';

const request = (body: string, pathParameters: Record<string, string> | null = null, key?: string) =>
  ({
    appId: 'app',
    event: {
      body,
      isBase64Encoded: false,
      pathParameters,
      headers: key === undefined ? {} : { 'idempotency-key': key },
    } as unknown as APIGatewayProxyEvent,
    context: {},
  }) as unknown as ApiRequest;

describe('Idempotency-Key requests', () => {
  it('are the same request whatever the JSON key order and spacing, and another for another body or path', () => {
    const a = requestHash(request('{"name":"x","statuses":["failed"]}', { id: 'cmp_1' }));
    expect(requestHash(request('{ "statuses": ["failed"],\n "name": "x" }', { id: 'cmp_1' }))).toBe(a);
    expect(requestHash(request('{"name":"x","statuses":["skipped"]}', { id: 'cmp_1' }))).not.toBe(a);
    expect(requestHash(request('{"name":"x","statuses":["failed"]}', { id: 'cmp_2' }))).not.toBe(a);
    // Array order is meaningful.
    expect(requestHash(request('{"t":["a","b"]}'))).not.toBe(requestHash(request('{"t":["b","a"]}')));
  });

  it('take a key of 1-255 allowed characters, and answer 400 naming the header otherwise', () => {
    expect(idempotencyKey(request('{}'))).toBeUndefined();
    expect(idempotencyKey(request('{}', null, '5f0c2b7e-8d1a-4c3e-9a57-1d2f3e4a5b6c'))).toBe(
      '5f0c2b7e-8d1a-4c3e-9a57-1d2f3e4a5b6c',
    );
    expect(idempotencyKey(request('{}', null, 'k'.repeat(255)))).toHaveLength(255);
    for (const bad of ['', 'k'.repeat(256), 'with space', 'é']) {
      expect(() => idempotencyKey(request('{}', null, bad))).toThrow(/Idempotency-Key header must be 1-255/);
    }
  });
});
