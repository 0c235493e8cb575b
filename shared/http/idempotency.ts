/**
 * The `Idempotency-Key` header of the POST routes that create something (docs/api.md,
 * Idempotency): a client that retries after a lost answer gets the first answer again
 * instead of a second notification or campaign.
 *
 * One record per app, route and key in the single table, under the app's partition
 * (`pk = APP#<appId>`, `sk = IDEMPOTENCY#<route>#<sha-256 of the key>`), so two apps
 * using the same key never meet. It holds a hash of the request (path parameters and
 * body, JSON canonicalised), the id the request creates (`resourceId`), and once the
 * request has answered, that answer. It expires `IDEMPOTENCY_TTL_SECONDS` after the first
 * request through the table's TTL attribute (`expiresAt`); an expired record that TTL has
 * not deleted yet counts as absent.
 *
 * - first request: a conditional put claims the key (`in_progress`, locked for the
 *   function's remaining time), then the route runs and its answer (a status under 500)
 *   is stored; a 4xx it threw frees the key (nothing was created), anything else unlocks
 *   the record for the next retry to take over;
 * - same key, same request, answered: the stored status and body, with
 *   `Idempotent-Replayed: true`;
 * - same key, same request, still running: `409` (retry after a moment);
 * - same key, same request, the first run died (lock expired): the retry takes the
 *   record over and runs the route again with the same `resourceId`, so the route finds
 *   what the dead run created instead of creating a second one (`resumed: true`);
 * - same key, another request: `422 ERR_IDEMPOTENCY_KEY_REUSED`.
 *
 * Not Powertools idempotency: its DynamoDB layer with a sort key puts every record under
 * one static partition key, and its records carry no per-app scope or stable resource id.
 */
import { createHash } from 'node:crypto';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { handlerTable, isConditionalCheckFailed, type Table } from '#shared/adapters/dynamodb.ts';
import { appPk, newId } from '#shared/domain/keys.ts';
import { ConflictError, IdempotencyKeyReusedError, InvalidInputError, PublicError } from '#shared/errors.ts';
import { logger } from '#shared/observability.ts';
import type { ApiRequest, RouteHandler } from './api-handler.ts';
import { statusOf } from './middleware.ts';
import { bodyBytes, header } from './request.ts';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
/** 1-255 characters: letters, digits and `- _ . : + / =` (a UUID, a ULID, base64 all fit). */
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_.:+/=-]{1,255}$/;
export const IDEMPOTENCY_KEY_MAX_LENGTH = 255;
/** How long a key is remembered: 24 hours from its first request. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;
/** The lock of a running request when the Lambda context does not say how long it has. */
const DEFAULT_LOCK_MS = 30_000;

/** What an idempotent route gets besides the request. */
export interface IdempotentRequest extends ApiRequest {
  /** The id of what the request creates: the same for every retry of one key. */
  resourceId: string;
  /** True when a retry took over from a run that died: what it created may exist already. */
  resumed: boolean;
}

interface StoredAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

interface IdempotencyRecord {
  state: 'in_progress' | 'completed';
  requestHash: string;
  resourceId: string;
  lockedUntil: number;
  expiresAt: number;
  answer?: StoredAnswer;
}

/** JSON with object keys sorted, so `{"a":1,"b":2}` and `{ "b": 2, "a": 1 }` are one request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The hash that says whether two requests with one key are the same request. */
export function requestHash(request: ApiRequest): string {
  const { event } = request;
  const raw = bodyBytes(event).toString('utf8');
  let body: string;
  try {
    body = raw === '' ? '' : canonical(JSON.parse(raw));
  } catch {
    body = raw;
  }
  return createHash('sha256')
    .update(canonical(event.pathParameters ?? {}))
    .update('\n')
    .update(body)
    .digest('hex');
}

/** The header's key, checked, or undefined without the header. */
export function idempotencyKey(request: ApiRequest): string | undefined {
  const key = header(request.event, IDEMPOTENCY_HEADER);
  if (key === undefined) return undefined;
  if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new InvalidInputError(
      `The ${IDEMPOTENCY_HEADER} header must be 1-${IDEMPOTENCY_KEY_MAX_LENGTH} letters, digits or - _ . : + / = (it has ${key.length} characters${key.length > 0 && key.length <= IDEMPOTENCY_KEY_MAX_LENGTH ? ', some of them not allowed' : ''}); send a UUID, or omit the header.`,
      { field: IDEMPOTENCY_HEADER, maxLength: IDEMPOTENCY_KEY_MAX_LENGTH },
    );
  }
  return key;
}

const recordKey = (appId: string, route: string, key: string) => ({
  pk: appPk(appId),
  sk: `IDEMPOTENCY#${route}#${createHash('sha256').update(key).digest('hex')}`,
});

function replay(answer: StoredAnswer): APIGatewayProxyResult {
  return {
    statusCode: answer.statusCode,
    headers: { ...answer.headers, 'idempotent-replayed': 'true' },
    body: answer.body,
  };
}

function lockMs(request: ApiRequest): number {
  const remaining = request.context?.getRemainingTimeInMillis?.();
  return typeof remaining === 'number' && remaining > 0 ? remaining + 1000 : DEFAULT_LOCK_MS;
}

/** The `Idempotency-Key` records on `table`, and `idempotent` over them. */
export function createIdempotency(table: Table) {
  /**
   * Makes a route idempotent under the `Idempotency-Key` header. `idPrefix` is the prefix
   * of the id it creates (`request.resourceId`); without the header the route runs as
   * before, with a fresh id.
   */
  function idempotent(
    idPrefix: string,
    route: (request: IdempotentRequest) => Promise<APIGatewayProxyResult>,
  ): RouteHandler {
    return async (request) => {
      const key = idempotencyKey(request);
      if (key === undefined) return route({ ...request, resourceId: newId(idPrefix), resumed: false });

      const routeName = `${request.event.httpMethod} ${request.event.resource}`;
      const Key = recordKey(request.appId, routeName, key);
      const hash = requestHash(request);
      const claimed = await claim(Key, hash, idPrefix, lockMs(request));
      if ('replay' in claimed) return claimed.replay;

      let answer: APIGatewayProxyResult;
      try {
        answer = await route({ ...request, resourceId: claimed.resourceId, resumed: claimed.resumed });
      } catch (error) {
        await release(Key, claimed.resourceId, error instanceof PublicError && statusOf(error) < 500);
        throw error;
      }
      if (answer.statusCode >= 500) {
        await release(Key, claimed.resourceId, false);
        return answer;
      }
      await table.client
        .send(
          new UpdateCommand({
            TableName: table.tableName,
            Key,
            UpdateExpression: 'SET #state = :completed, answer = :answer REMOVE lockedUntil',
            ConditionExpression: 'resourceId = :rid',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: {
              ':completed': 'completed',
              ':rid': claimed.resourceId,
              ':answer': {
                statusCode: answer.statusCode,
                headers: (answer.headers ?? {}) as Record<string, string>,
                body: answer.body,
              } satisfies StoredAnswer,
            },
          }),
        )
        .catch((error: unknown) =>
          // The answer stands; a retry takes the record over once its lock expires and
          // finds what this run created (the same resourceId).
          logger.warn('idempotency: the answer could not be stored', { route: routeName, error }),
        );
      return answer;
    };
  }

  /** Claims the key for this request, or gives the stored answer; throws a repeat's 409 / 422. */
  async function claim(
    Key: { pk: string; sk: string },
    hash: string,
    idPrefix: string,
    lock: number,
  ): Promise<{ resourceId: string; resumed: boolean } | { replay: APIGatewayProxyResult }> {
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      const now = Date.now();
      const resourceId = newId(idPrefix);
      try {
        await table.client.send(
          new PutCommand({
            TableName: table.tableName,
            Item: {
              ...Key,
              state: 'in_progress',
              requestHash: hash,
              resourceId,
              lockedUntil: now + lock,
              expiresAt: Math.floor(now / 1000) + IDEMPOTENCY_TTL_SECONDS,
            },
            ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :nowSeconds',
            ExpressionAttributeValues: { ':nowSeconds': Math.floor(now / 1000) },
          }),
        );
        return { resourceId, resumed: false };
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
      }
      const { Item } = await table.client.send(
        new GetCommand({ TableName: table.tableName, Key, ConsistentRead: true }),
      );
      const found = Item as IdempotencyRecord | undefined;
      if (!found) continue; // freed meanwhile: claim it again
      if (found.requestHash !== hash) {
        throw new IdempotencyKeyReusedError(
          `This ${IDEMPOTENCY_HEADER} was already used with a different request (another body or path) in the last 24 hours; send a new key for a new request, or repeat the first request exactly.`,
          { field: IDEMPOTENCY_HEADER },
        );
      }
      if (found.state === 'completed' && found.answer) return { replay: replay(found.answer) };
      if (found.lockedUntil > now) {
        throw new ConflictError(
          `A request with this ${IDEMPOTENCY_HEADER} is still in progress; retry in a few seconds to get its answer.`,
          { field: IDEMPOTENCY_HEADER, reason: 'in_progress' },
        );
      }
      // The first run died: take over its record, keeping the id it may have used.
      try {
        await table.client.send(
          new UpdateCommand({
            TableName: table.tableName,
            Key,
            UpdateExpression: 'SET lockedUntil = :until',
            ConditionExpression: '#state = :inProgress AND lockedUntil = :seen',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: {
              ':until': now + lock,
              ':inProgress': 'in_progress',
              ':seen': found.lockedUntil,
            },
          }),
        );
        return { resourceId: found.resourceId, resumed: true };
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
      }
    }
    throw new ConflictError(
      `A request with this ${IDEMPOTENCY_HEADER} is still in progress; retry in a few seconds to get its answer.`,
      { field: IDEMPOTENCY_HEADER, reason: 'in_progress' },
    );
  }

  /**
   * After a failed run: frees the key (`forget`, a 4xx: nothing was created) or unlocks the
   * record so that the next retry takes it over at once with the same resourceId.
   */
  async function release(
    Key: { pk: string; sk: string },
    resourceId: string,
    forget: boolean,
  ): Promise<void> {
    const condition = {
      ConditionExpression: '#state = :inProgress AND resourceId = :rid',
      ExpressionAttributeNames: { '#state': 'state' },
    };
    await table.client
      .send(
        forget
          ? new DeleteCommand({
              TableName: table.tableName,
              Key,
              ...condition,
              ExpressionAttributeValues: { ':inProgress': 'in_progress', ':rid': resourceId },
            })
          : new UpdateCommand({
              TableName: table.tableName,
              Key,
              UpdateExpression: 'SET lockedUntil = :zero',
              ...condition,
              ExpressionAttributeValues: { ':inProgress': 'in_progress', ':rid': resourceId, ':zero': 0 },
            }),
      )
      .catch((error: unknown) => logger.warn('idempotency: the record could not be released', { error }));
  }

  return { idempotent };
}

export type Idempotency = ReturnType<typeof createIdempotency>;

/** `idempotent` over the handlers' table. */
export const { idempotent } = createIdempotency(handlerTable);
