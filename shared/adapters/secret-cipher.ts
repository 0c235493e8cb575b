/**
 * Apps' signing secrets at rest: KMS `Encrypt` and `Decrypt` under the key of
 * `SECRETS_KEY_ID`, with the encryption context `{ appId }`. KMS binds a ciphertext to
 * its context, so a ciphertext copied to another app's item (a bug, or a hand edit of
 * the table) does not decrypt there, and CloudTrail records which app each call was for.
 * The table holds only the base64 ciphertext; the plain secret lives in memory only.
 */
import { DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { secretsConfig } from '#shared/config.ts';
import type { SecretCipher } from '#shared/domain/destinations.ts';
import { AppError } from '#shared/errors.ts';
import { tracer } from '#shared/observability.ts';

export interface KmsCipherOptions {
  client: KMSClient;
  /** Key id, key ARN or alias of a symmetric encryption key. */
  keyId: string;
}

/** A stored secret that KMS refuses for this app: encrypted for another app, under another key, or changed. */
export class SecretDecryptionError extends AppError {}

/** The error names with which KMS refuses a ciphertext it cannot open for this request. */
const REFUSED = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);

export function createKmsCipher(options: KmsCipherOptions): SecretCipher {
  const { client, keyId } = options;
  return {
    async encrypt(plaintext, appId) {
      // KMS refuses an empty plaintext with a message that names no field of ours.
      if (plaintext === '') throw new RangeError(`The signing secret of app '${appId}' to encrypt is empty.`);
      const { CiphertextBlob } = await client.send(
        new EncryptCommand({
          KeyId: keyId,
          Plaintext: Buffer.from(plaintext, 'utf8'),
          EncryptionContext: { appId },
        }),
      );
      if (!CiphertextBlob) throw new Error(`KMS Encrypt with ${keyId} answered without a CiphertextBlob.`);
      return Buffer.from(CiphertextBlob).toString('base64');
    },
    async decrypt(ciphertext, appId) {
      let plaintext: Uint8Array | undefined;
      try {
        ({ Plaintext: plaintext } = await client.send(
          new DecryptCommand({
            // Naming the key makes KMS refuse a ciphertext of any other key, rather than use it.
            KeyId: keyId,
            CiphertextBlob: Buffer.from(ciphertext, 'base64'),
            EncryptionContext: { appId },
          }),
        ));
      } catch (error) {
        if (error instanceof Error && REFUSED.has(error.name)) {
          throw new SecretDecryptionError(
            `The signing secret stored for app '${appId}' does not decrypt under ${keyId} for that app (${error.name}): it was encrypted for another app or under another key, or it was changed. Rotate the app's secret to store a new one.`,
            { cause: error },
          );
        }
        throw error;
      }
      if (!plaintext) throw new Error(`KMS Decrypt with ${keyId} answered without a Plaintext.`);
      return Buffer.from(plaintext).toString('utf8');
    },
  };
}

/** The cipher of this process, on the key of `SECRETS_KEY_ID`, created at cold start. */
export const secretCipher: SecretCipher = createKmsCipher({
  client: tracer.captureAWSv3Client(new KMSClient({})),
  keyId: secretsConfig().SECRETS_KEY_ID,
});
