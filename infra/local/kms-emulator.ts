/**
 * AWS KMS, locally: the JSON 1.1 operations the system uses (`CreateKey`, `CreateAlias`,
 * `DescribeKey` to provision the secrets key, `Encrypt` and `Decrypt` for apps' signing
 * secrets), so the code that encrypts is the code that runs in AWS. The SDK reaches it
 * through `AWS_ENDPOINT_URL_KMS`.
 *
 * Each key is 32 random bytes held in memory, as DynamoDB Local holds the table in memory:
 * a ciphertext lives no longer than the items that store it. A ciphertext is AES-256-GCM
 * under the key, with the key id and the encryption context as additional authenticated
 * data, so, as in KMS, a changed byte or another encryption context fails with
 * `InvalidCiphertextException`. Its layout (`version | key id | iv | tag | data`) is this
 * emulator's own; KMS's is opaque too.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import {
  blob,
  optionalString,
  requiredString,
  ServiceError,
  startJsonProtocolServer,
} from './json-protocol.ts';

export interface KmsEmulator {
  readonly endpoint: string;
  stop(): Promise<void>;
}

interface Key {
  id: string;
  arn: string;
  material: Buffer;
  description: string;
  creationDate: number;
}

/** KMS takes at most 4,096 bytes of plaintext per `Encrypt`. */
export const KMS_MAX_PLAINTEXT_BYTES = 4096;

const VERSION = 1;
const KEY_ID_BYTES = 36;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export async function startKmsEmulator(
  options: { region?: string; accountId?: string } = {},
): Promise<KmsEmulator> {
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const arnPrefix = `arn:aws:kms:${region}:${accountId}:`;
  const keys = new Map<string, Key>();
  const aliases = new Map<string, string>();

  /** The key named by a key id, key ARN, alias name or alias ARN. */
  function resolve(keyId: string): Key {
    const name = keyId.startsWith(arnPrefix) ? keyId.slice(arnPrefix.length) : keyId;
    const id = name.startsWith('alias/') ? aliases.get(name) : name.replace(/^key\//, '');
    const key = id === undefined ? undefined : keys.get(id);
    if (!key) {
      throw new ServiceError(
        'NotFoundException',
        name.startsWith('alias/')
          ? `Alias ${arnPrefix}${name} is not found.`
          : `Key '${keyId}' does not exist`,
      );
    }
    return key;
  }

  const metadata = (key: Key) => ({
    AWSAccountId: accountId,
    KeyId: key.id,
    Arn: key.arn,
    CreationDate: key.creationDate,
    Enabled: true,
    Description: key.description,
    KeyUsage: 'ENCRYPT_DECRYPT',
    KeyState: 'Enabled',
    Origin: 'AWS_KMS',
    KeyManager: 'CUSTOMER',
    KeySpec: 'SYMMETRIC_DEFAULT',
    CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    MultiRegion: false,
  });

  const server = await startJsonProtocolServer({
    targetPrefix: 'TrentService',
    operations: {
      CreateKey(input) {
        const id = randomUUID();
        const key: Key = {
          id,
          arn: `${arnPrefix}key/${id}`,
          material: randomBytes(32),
          description: optionalString(input, 'Description') ?? '',
          creationDate: Date.now() / 1000,
        };
        keys.set(id, key);
        return { KeyMetadata: metadata(key) };
      },
      CreateAlias(input) {
        const alias = requiredString(input, 'AliasName');
        if (!/^alias\/[A-Za-z0-9/_-]{1,250}$/.test(alias) || alias.startsWith('alias/aws/')) {
          throw new ServiceError(
            'ValidationException',
            `Alias must start with alias/ and not alias/aws/: ${alias}`,
          );
        }
        if (aliases.has(alias)) {
          throw new ServiceError(
            'AlreadyExistsException',
            `An alias with the name ${arnPrefix}${alias} already exists`,
          );
        }
        aliases.set(alias, resolve(requiredString(input, 'TargetKeyId')).id);
        return {};
      },
      DescribeKey(input) {
        return { KeyMetadata: metadata(resolve(requiredString(input, 'KeyId'))) };
      },
      Encrypt(input) {
        const key = resolve(requiredString(input, 'KeyId'));
        const plaintext = blob(input, 'Plaintext');
        if (plaintext.length > KMS_MAX_PLAINTEXT_BYTES) {
          throw new ServiceError(
            'ValidationException',
            `1 validation error detected: Plaintext must have length less than or equal to ${KMS_MAX_PLAINTEXT_BYTES}`,
          );
        }
        const iv = randomBytes(IV_BYTES);
        const cipher = createCipheriv('aes-256-gcm', key.material, iv);
        cipher.setAAD(authenticatedData(key.id, encryptionContext(input)));
        const data = Buffer.concat([cipher.update(plaintext), cipher.final()]);
        const blobOut = Buffer.concat([
          Buffer.from([VERSION]),
          Buffer.from(key.id, 'ascii'),
          iv,
          cipher.getAuthTag(),
          data,
        ]);
        return {
          CiphertextBlob: blobOut.toString('base64'),
          KeyId: key.arn,
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        };
      },
      Decrypt(input) {
        const ciphertext = blob(input, 'CiphertextBlob');
        const header = 1 + KEY_ID_BYTES + IV_BYTES + TAG_BYTES;
        const keyId = ciphertext.subarray(1, 1 + KEY_ID_BYTES).toString('ascii');
        const key = keys.get(keyId);
        if (ciphertext.length < header || ciphertext[0] !== VERSION || !key) {
          throw new ServiceError('InvalidCiphertextException', 'The ciphertext is not one of this KMS.');
        }
        const wanted = optionalString(input, 'KeyId');
        if (wanted !== undefined && resolve(wanted).id !== key.id) {
          throw new ServiceError(
            'IncorrectKeyException',
            'The key ID in the request does not identify a KMS key that can perform this operation.',
          );
        }
        const ivStart = 1 + KEY_ID_BYTES;
        const decipher = createDecipheriv(
          'aes-256-gcm',
          key.material,
          ciphertext.subarray(ivStart, ivStart + IV_BYTES),
        );
        decipher.setAuthTag(ciphertext.subarray(ivStart + IV_BYTES, header));
        decipher.setAAD(authenticatedData(key.id, encryptionContext(input)));
        let plaintext: Buffer;
        try {
          plaintext = Buffer.concat([decipher.update(ciphertext.subarray(header)), decipher.final()]);
        } catch {
          // A changed byte or another encryption context: KMS does not say which either.
          throw new ServiceError('InvalidCiphertextException', '');
        }
        return {
          Plaintext: plaintext.toString('base64'),
          KeyId: key.arn,
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        };
      },
    },
  });
  return { endpoint: server.endpoint, stop: server.close };
}

/** The encryption context of a request: a map of strings, `{}` when absent. */
function encryptionContext(input: Record<string, unknown>): Record<string, string> {
  const context = input.EncryptionContext;
  if (context === undefined || context === null) return {};
  if (
    typeof context !== 'object' ||
    Array.isArray(context) ||
    Object.values(context).some((v) => typeof v !== 'string')
  ) {
    throw new ServiceError('ValidationException', 'EncryptionContext must be a map of strings to strings');
  }
  return context as Record<string, string>;
}

/** The key id and the context, its pairs sorted so their order in the request does not matter (as in KMS). */
function authenticatedData(keyId: string, context: Record<string, string>): Buffer {
  const pairs = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify([keyId, pairs]), 'utf8');
}
