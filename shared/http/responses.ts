/** Response envelopes of docs/api.md: `{ data }`, `{ data, meta: { next } }`, `{ error }`. */
import type { APIGatewayProxyResult } from 'aws-lambda';

const jsonHeaders = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export function json(statusCode: number, body: unknown): APIGatewayProxyResult {
  return { statusCode, headers: { ...jsonHeaders }, body: JSON.stringify(body) };
}

/** `{ data }` with 200, or another status (201 created, 202 accepted). */
export function data(value: unknown, statusCode = 200): APIGatewayProxyResult {
  return json(statusCode, { data: value });
}

/** A page of a list: `{ data: [...], meta: { next } }`. */
export function list(items: unknown[], next: string | null): APIGatewayProxyResult {
  return json(200, { data: items, meta: { next } });
}

export function error(
  statusCode: number,
  code: string,
  message: string,
  details: Record<string, unknown> = {},
): APIGatewayProxyResult {
  return json(statusCode, { error: { code, message, details } });
}
