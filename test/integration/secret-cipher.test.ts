/**
 * Apps' signing secrets through KMS, with the real KMSClient against the local KMS
 * emulator (the JSON 1.1 protocol): what the destination API stores decrypts for the
 * same app only, and a changed ciphertext does not decrypt at all.
 */
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type KmsEmulator, startKmsEmulator } from '#infra/local/kms-emulator.ts';
import { ensureSecretsKey } from '#infra/local/provision.ts';
import { createKmsCipher, SecretDecryptionError } from '#shared/adapters/secret-cipher.ts';
import { newSigningSecret } from '#shared/domain/destinations.ts';

vi.hoisted(() => {
  // The module's own cipher is built at load; these tests build theirs, so any key id does here.
  process.env.SECRETS_KEY_ID ??= 'alias/unused-at-load';
});

let kms: KmsEmulator;
let client: KMSClient;
let keyId: string;

beforeAll(async () => {
  kms = await startKmsEmulator({ region: 'us-east-1' });
  client = new KMSClient({
    region: 'us-east-1',
    endpoint: kms.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  keyId = await ensureSecretsKey(client);
});

afterAll(async () => {
  client?.destroy();
  await kms?.stop();
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe('KMS secret cipher', () => {
  it('stores a base64 ciphertext that is not the secret, and gives the secret back for its app', async () => {
    const cipher = createKmsCipher({ client, keyId });
    const secret = newSigningSecret();
    const ciphertext = await cipher.encrypt(secret, 'app-a');
    expect(ciphertext).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(ciphertext, 'base64').toString('latin1')).not.toContain(secret.slice(6));
    expect(ciphertext).not.toContain(secret.slice(6));
    expect(await cipher.decrypt(ciphertext, 'app-a')).toBe(secret);
    // Each encryption is fresh: equal secrets do not give equal ciphertexts.
    expect(await cipher.encrypt(secret, 'app-a')).not.toBe(ciphertext);
  });

  it("refuses to decrypt app A's ciphertext as app B's, naming app B and not the secret", async () => {
    const cipher = createKmsCipher({ client, keyId });
    const secret = newSigningSecret();
    const ciphertext = await cipher.encrypt(secret, 'app-a');
    const error = await cipher.decrypt(ciphertext, 'app-b').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretDecryptionError);
    expect((error as Error).message).toMatch(/app 'app-b' does not decrypt.*InvalidCiphertextException/);
    expect((error as Error).message).not.toContain(secret);
    // The ciphertext itself is intact: it still opens for its own app.
    expect(await cipher.decrypt(ciphertext, 'app-a')).toBe(secret);
  });

  it('refuses a ciphertext with any byte changed', async () => {
    const cipher = createKmsCipher({ client, keyId });
    const bytes = Buffer.from(await cipher.encrypt(newSigningSecret(), 'app-a'), 'base64');
    for (const at of [0, 20, bytes.length - 20, bytes.length - 1]) {
      const tampered = Buffer.from(bytes);
      tampered[at] = (tampered[at] as number) ^ 0x01;
      await expect(cipher.decrypt(tampered.toString('base64'), 'app-a')).rejects.toBeInstanceOf(
        SecretDecryptionError,
      );
    }
  });

  it('refuses a ciphertext made under another key', async () => {
    const { KeyMetadata } = await client.send(new CreateKeyCommand({ Description: 'another key' }));
    const other = createKmsCipher({ client, keyId: KeyMetadata?.KeyId as string });
    const ciphertext = await other.encrypt(newSigningSecret(), 'app-a');
    await expect(createKmsCipher({ client, keyId }).decrypt(ciphertext, 'app-a')).rejects.toThrow(
      /IncorrectKeyException/,
    );
  });

  it('refuses to encrypt an empty secret, naming the app', async () => {
    await expect(createKmsCipher({ client, keyId }).encrypt('', 'app-a')).rejects.toThrow(
      "The signing secret of app 'app-a' to encrypt is empty.",
    );
  });
});

describe("the process's cipher", () => {
  it('uses the key of SECRETS_KEY_ID and the KMS endpoint of the environment', async () => {
    vi.stubEnv('SECRETS_KEY_ID', keyId);
    vi.stubEnv('AWS_ENDPOINT_URL_KMS', kms.endpoint);
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
    vi.resetModules();
    const { secretCipher } = await import('#shared/adapters/secret-cipher.ts');
    const ciphertext = await secretCipher.encrypt('whsec_abc', 'app-a');
    // What the process stored opens with a cipher built by hand on the same key.
    expect(await createKmsCipher({ client, keyId }).decrypt(ciphertext, 'app-a')).toBe('whsec_abc');
  });

  it('fails at load without SECRETS_KEY_ID, naming it', async () => {
    vi.stubEnv('SECRETS_KEY_ID', '');
    vi.resetModules();
    await expect(import('#shared/adapters/secret-cipher.ts')).rejects.toThrow(
      /^Invalid secrets configuration: SECRETS_KEY_ID/,
    );
  });
});
