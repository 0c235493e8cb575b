/**
 * The local runtime gives the handlers what the stack gives the deployed functions for
 * secrets: a KMS key (`SECRETS_KEY_ID`) on a KMS endpoint, and the default webhook's
 * signing secret (`WEBHOOK_SECRET_ARN`) on a Secrets Manager endpoint, both emulated here
 * and both gone when the runtime stops.
 */
import { connect } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { startLocalRuntime } from '#infra/local/runtime.ts';
import { createDefaultWebhookSecret } from '#shared/adapters/default-webhook-secret.ts';
import { secretsKey } from '#shared/resources.ts';

function listening(endpoint: string): Promise<boolean> {
  const { hostname, port } = new URL(endpoint);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('secrets in the local runtime', () => {
  it("encrypts apps' secrets on its KMS key, holds a default webhook secret, and stops both emulators", async () => {
    const runtime = await startLocalRuntime({ port: 0, deliveryConcurrency: 0 });
    let stopped = false;
    try {
      expect(process.env.SECRETS_KEY_ID).toBe(secretsKey.localAlias);
      const { kmsEndpoint, secretsManagerEndpoint } = runtime.secrets;
      expect(kmsEndpoint).toBe(process.env.AWS_ENDPOINT_URL_KMS);
      expect(secretsManagerEndpoint).toBe(process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER);

      // What the destination API and the deliver consumer load, with the runtime's environment.
      const { secretCipher } = await import('#shared/adapters/secret-cipher.ts');
      const ciphertext = await secretCipher.encrypt('whsec_local', 'local-app');
      expect(await secretCipher.decrypt(ciphertext, 'local-app')).toBe('whsec_local');
      await expect(secretCipher.decrypt(ciphertext, 'other-app')).rejects.toThrow(/does not decrypt/);

      const read = createDefaultWebhookSecret({
        client: new SecretsManagerClient({}),
        secretArn: process.env.WEBHOOK_SECRET_ARN as string,
      });
      expect(await read()).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

      await runtime.stop();
      stopped = true;
      expect(await listening(kmsEndpoint as string)).toBe(false);
      expect(await listening(secretsManagerEndpoint as string)).toBe(false);
    } finally {
      if (!stopped) await runtime.stop();
    }
  });
});
