/**
 * The signing secret of the deployment's default webhook (docs/delivery.md), read from
 * Secrets Manager: the secret `WEBHOOK_SECRET_ARN` names, never a plain-text variable, so
 * it shows in no Lambda configuration, template or console page.
 *
 * Read through a Powertools `SecretsProvider`, which keeps a value for `maxAgeSeconds`
 * (300 s by default): a warm function calls Secrets Manager once per five minutes, not
 * once per batch, and a new value put in Secrets Manager (a rotation) signs deliveries
 * within five minutes, without a deployment.
 *
 * The value is the Standard Webhooks secret, in any of these forms:
 * - `whsec_` and the base64 of 24 to 64 bytes;
 * - that base64 alone (what the CDK stack generates: 44 letters and digits, 33 bytes);
 * - JSON `{"signingSecret": "<either of the above>"}` (the console's key/value form).
 * Anything else fails with a message naming the secret's ARN and the form expected,
 * never quoting the value.
 */
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SIGNING_SECRET_PREFIX } from '#shared/domain/destinations.ts';
import { AppError } from '#shared/errors.ts';

/** Seconds a value is used before Secrets Manager is asked again. */
export const DEFAULT_WEBHOOK_SECRET_MAX_AGE_SECONDS = 300;

/** Standard Webhooks asks for secrets of 24 to 64 random bytes. */
export const SIGNING_SECRET_MIN_BYTES = 24;
export const SIGNING_SECRET_MAX_BYTES = 64;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The stored value is not a signing secret. The message names the secret, never its value. */
export class SigningSecretFormatError extends AppError {}

/** The `whsec_…` secret a stored value holds, or a `SigningSecretFormatError` naming `secretArn`. */
export function signingSecretFrom(value: unknown, secretArn: string): string {
  const expected = `store ${SIGNING_SECRET_PREFIX} and the base64 of ${SIGNING_SECRET_MIN_BYTES} to ${SIGNING_SECRET_MAX_BYTES} random bytes, that base64 alone, or JSON {"signingSecret": "…"} with either`;
  const fail = (problem: string) =>
    new SigningSecretFormatError(
      `The default webhook's signing secret ${secretArn} (WEBHOOK_SECRET_ARN) ${problem}: ${expected}.`,
    );
  if (typeof value !== 'string') throw fail('holds a binary value, not text');
  let text = value.trim();
  if (text.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw fail('starts like JSON but is not JSON');
    }
    const inner = (json as { signingSecret?: unknown } | null)?.signingSecret;
    if (typeof inner !== 'string') throw fail('is JSON without a "signingSecret" string');
    text = inner.trim();
  }
  const base64 = text.startsWith(SIGNING_SECRET_PREFIX) ? text.slice(SIGNING_SECRET_PREFIX.length) : text;
  if (!BASE64.test(base64) || base64.length % 4 !== 0) throw fail('is not a signing secret');
  const bytes = Buffer.from(base64, 'base64').length;
  if (bytes < SIGNING_SECRET_MIN_BYTES || bytes > SIGNING_SECRET_MAX_BYTES) {
    throw fail(`decodes to ${bytes} bytes`);
  }
  return `${SIGNING_SECRET_PREFIX}${base64}`;
}

export interface DefaultWebhookSecretOptions {
  /** A Secrets Manager client (traced, in the functions). */
  client: SecretsManagerClient;
  /** ARN of the secret (`WEBHOOK_SECRET_ARN`). */
  secretArn: string;
  /** Seconds a value is reused (default `DEFAULT_WEBHOOK_SECRET_MAX_AGE_SECONDS`). */
  maxAgeSeconds?: number;
}

/**
 * A function giving the current signing secret, `whsec_…`: from the provider's cache
 * while it is younger than `maxAgeSeconds`, else from Secrets Manager. Rejects with a
 * message naming the ARN when the secret cannot be read or is not a signing secret.
 */
export function createDefaultWebhookSecret(options: DefaultWebhookSecretOptions): () => Promise<string> {
  const { secretArn } = options;
  const maxAge = options.maxAgeSeconds ?? DEFAULT_WEBHOOK_SECRET_MAX_AGE_SECONDS;
  const provider = new SecretsProvider({ awsSdkV3Client: options.client });
  return async () => {
    let value: unknown;
    try {
      value = await provider.get(secretArn, { maxAge });
    } catch (error) {
      // Powertools wraps the SDK's error; its message is AWS's (not found, access denied), never the value.
      throw new AppError(
        `Could not read the default webhook's signing secret ${secretArn} (WEBHOOK_SECRET_ARN): ${
          error instanceof Error ? error.message : String(error)
        }`,
        { cause: error },
      );
    }
    return signingSecretFrom(value, secretArn);
  };
}
