/**
 * Apps' destinations in the single table: one item per app (`APP#<appId>` / `DESTINATION`).
 * Signing secrets are stored only encrypted (`SecretCipher`, bound to the app), with the
 * last 4 characters as a hint; a rotation keeps the previous ciphertext and the time its
 * overlap ends. Every write changes `version`, so a reader's cache knows it is stale.
 * An app without the item uses the deployment's default.
 */
import { randomUUID } from 'node:crypto';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { handlerTable, isConditionalCheckFailed, type Table } from '#shared/adapters/dynamodb.ts';
import {
  type DestinationItem,
  MAX_DESTINATION_BATCH_SIZE,
  newSigningSecret,
  ROTATION_OVERLAP_MS,
  type SecretCipher,
  secretHintOf,
} from '#shared/domain/destinations.ts';

export { signingSecretsOf } from '#shared/domain/destinations.ts';
export type { DestinationItem };

import { appPk } from '#shared/domain/keys.ts';
import { ConflictError, NoSigningSecretError } from '#shared/errors.ts';

const DESTINATION_SK = 'DESTINATION';
const key = (appId: string) => ({ pk: appPk(appId), sk: DESTINATION_SK });

export type DestinationInput =
  | { kind: 'default' }
  | { kind: 'webhook'; url: string; batchSize: number; ratePerSecond: number | null };

/** The destinations store on `table`. */
export function createDestinationsStore(table: Table) {
  /** The app's destination item (strongly consistent), or undefined when it never set one. */
  async function readDestination(appId: string): Promise<DestinationItem | undefined> {
    const { Item } = await table.client.send(
      new GetCommand({ TableName: table.tableName, Key: key(appId), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const { pk: _pk, sk: _sk, ...item } = Item;
    return item as DestinationItem;
  }

  /**
   * Sets the app's destination. A webhook gets a signing secret the first time (kept across
   * later changes, and across a return to `default`): then, and only then, the answer
   * carries it in plain text.
   */
  async function putDestination(
    appId: string,
    input: DestinationInput,
    cipher: SecretCipher,
  ): Promise<{ item: DestinationItem; signingSecret?: string }> {
    const now = new Date().toISOString();
    const values: Record<string, unknown> = {
      ':appId': appId,
      ':kind': input.kind,
      ':version': randomUUID(),
      ':now': now,
    };
    const sets = ['appId = :appId', 'kind = :kind', 'version = :version', 'updatedAt = :now'];
    const removes: string[] = [];
    let created: { secret: string; ciphertext: string } | undefined;
    if (input.kind === 'default') {
      sets.push('batchSize = :batchSize', 'ratePerSecond = :rate');
      values[':batchSize'] = MAX_DESTINATION_BATCH_SIZE;
      values[':rate'] = null;
      removes.push('#url');
    } else {
      sets.push('#url = :url', 'batchSize = :batchSize', 'ratePerSecond = :rate');
      values[':url'] = input.url;
      values[':batchSize'] = input.batchSize;
      values[':rate'] = input.ratePerSecond;
      const current = await readDestination(appId);
      if (current?.secretCiphertext === undefined) {
        const secret = newSigningSecret();
        created = { secret, ciphertext: await cipher.encrypt(secret, appId) };
        sets.push('secretCiphertext = if_not_exists(secretCiphertext, :cipher)');
        sets.push('secretHint = if_not_exists(secretHint, :hint)');
        values[':cipher'] = created.ciphertext;
        values[':hint'] = secretHintOf(secret);
      }
    }
    const { Attributes } = await table.client.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: key(appId),
        UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
        ExpressionAttributeNames: { '#url': 'url' },
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    const { pk: _pk, sk: _sk, ...stored } = Attributes as Record<string, unknown>;
    const item = stored as unknown as DestinationItem;
    // Two first PUTs at once: only the one whose secret was stored answers it.
    const signingSecret =
      created !== undefined && item.secretCiphertext === created.ciphertext ? created.secret : undefined;
    return signingSecret === undefined ? { item } : { item, signingSecret };
  }

  /**
   * Replaces the app's signing secret with a new one, answered once. The one it replaces
   * keeps signing for `ROTATION_OVERLAP_MS` more (an older previous one is dropped).
   */
  async function rotateSecret(
    appId: string,
    cipher: SecretCipher,
    now = Date.now(),
  ): Promise<{ item: DestinationItem; signingSecret: string }> {
    const current = await readDestination(appId);
    if (current?.kind !== 'webhook' || current.secretCiphertext === undefined) {
      throw new NoSigningSecretError();
    }
    const secret = newSigningSecret();
    const ciphertext = await cipher.encrypt(secret, appId);
    try {
      const { Attributes } = await table.client.send(
        new UpdateCommand({
          TableName: table.tableName,
          Key: key(appId),
          UpdateExpression:
            'SET secretCiphertext = :cipher, secretHint = :hint, previousSecretCiphertext = :previous, previousSecretUntil = :until, version = :version, updatedAt = :now',
          // Another change in between (a second rotation) would lose a secret: try again.
          ConditionExpression: 'version = :seen',
          ExpressionAttributeValues: {
            ':cipher': ciphertext,
            ':hint': secretHintOf(secret),
            ':previous': current.secretCiphertext,
            ':until': now + ROTATION_OVERLAP_MS,
            ':version': randomUUID(),
            ':now': new Date(now).toISOString(),
            ':seen': current.version,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const { pk: _pk, sk: _sk, ...item } = Attributes as Record<string, unknown>;
      return { item: item as unknown as DestinationItem, signingSecret: secret };
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      throw new ConflictError(
        'The destination changed while its secret was being rotated: rotate again to get a new secret.',
      );
    }
  }

  return { readDestination, putDestination, rotateSecret };
}

export type DestinationsStore = ReturnType<typeof createDestinationsStore>;

/** The destinations store on the handlers' table. */
export const { readDestination, putDestination, rotateSecret } = createDestinationsStore(handlerTable);
