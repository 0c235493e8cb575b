/** Reading an API Gateway proxy event: headers, JSON bodies, query and paging. */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { z } from 'zod';
import { appPk } from '#shared/domain/keys.ts';
import { InvalidInputError } from '#shared/errors.ts';
import type { Page } from '#shared/store/paging.ts';

/** A header's value, whatever the letter case of its name. */
export function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  }
  return undefined;
}

/** The raw body as bytes, decoding API Gateway's base64 for binary media types. */
export function bodyBytes(event: APIGatewayProxyEvent): Buffer {
  if (!event.body) return Buffer.alloc(0);
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
}

/** Problems of a zod error, as `field: problem` strings. */
export function describeIssues(error: z.ZodError): { field: string; problem: string }[] {
  return error.issues.map((issue) => {
    const field = issue.path.length > 0 ? issue.path.join('.') : '(body)';
    if (issue.code === 'unrecognized_keys') {
      // Each unknown key with its path, so a nested one (`variableSchema.name.min`) is found.
      const keys = issue.keys.map((key) => [...issue.path, key].join('.'));
      return { field: keys.join(', '), problem: 'unknown field; remove it' };
    }
    return { field, problem: issue.message };
  });
}

/** Parses `value` with `schema`, or throws a 400 naming every bad field. */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const fields = describeIssues(result.error);
  const summary = fields.map((f) => `${f.field}: ${f.problem}`).join('; ');
  throw new InvalidInputError(`Invalid ${where}: ${summary}`, { fields });
}

/** Parses the JSON body with `schema`: requires `application/json`, names each bad field. */
export function jsonBody<T extends z.ZodType>(event: APIGatewayProxyEvent, schema: T): z.infer<T> {
  const contentType = header(event, 'content-type') ?? '';
  if (!/^application\/json\b/i.test(contentType)) {
    throw new InvalidInputError(`Content-Type must be application/json, got '${contentType || '(none)'}'.`);
  }
  let value: unknown;
  try {
    value = JSON.parse(bodyBytes(event).toString('utf8'));
  } catch {
    throw new InvalidInputError('The body is not valid JSON.');
  }
  return parseWith(schema, value, 'request body');
}

/** Query parameters (last value of each). */
export function query(event: APIGatewayProxyEvent): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(event.queryStringParameters ?? {})) if (v !== undefined) out[k] = v;
  return out;
}

/** A path parameter that the route guarantees. */
export function pathParameter(event: APIGatewayProxyEvent, name: string): string {
  const value = event.pathParameters?.[name];
  if (!value) throw new InvalidInputError(`Missing path parameter '${name}'.`);
  return value;
}

export type { Page };

/** `?limit=` (1-100, default 25) and `?cursor=` of a list request. */
export function page(event: APIGatewayProxyEvent, appId: string): Page {
  const q = query(event);
  let limit = 25;
  if (q.limit !== undefined) {
    limit = Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      throw new InvalidInputError(`limit must be a whole number from 1 to 100, got '${q.limit}'.`, {
        field: 'limit',
      });
    }
  }
  return { limit, startKey: q.cursor === undefined ? undefined : decodeCursor(q.cursor, appId) };
}

/** The opaque cursor for a DynamoDB `LastEvaluatedKey`, or null at the end. */
export function encodeCursor(lastKey: Record<string, unknown> | undefined): string | null {
  return lastKey ? Buffer.from(JSON.stringify(lastKey), 'utf8').toString('base64url') : null;
}

/** Decodes a cursor, refusing one that points into another app's items. */
export function decodeCursor(cursor: string, appId: string): Record<string, unknown> {
  const invalid = new InvalidInputError('cursor is invalid; pass the meta.next value of the previous page.', {
    field: 'cursor',
  });
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid;
  }
  if (typeof key !== 'object' || key === null || Array.isArray(key)) throw invalid;
  const own = appPk(appId);
  for (const [name, value] of Object.entries(key)) {
    if (typeof value !== 'string' && typeof value !== 'number') throw invalid;
    if ((name === 'pk' || name === 'gsi1pk') && !(value === own || String(value).startsWith(`${own}#`)))
      throw invalid;
  }
  return key as Record<string, unknown>;
}
