/**
 * AWS Secrets Manager, locally: the JSON 1.1 operations the system uses (`CreateSecret`,
 * `DescribeSecret` and `PutSecretValue` to seed, `GetSecretValue` to read), so the code
 * that reads the default webhook's signing secret is the code that runs in AWS. The SDK
 * reaches it through `AWS_ENDPOINT_URL_SECRETS_MANAGER`. Secrets are held in memory, like
 * everything else of the local runtime; only the current version (`AWSCURRENT`) is kept.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  blob,
  optionalString,
  requiredString,
  ServiceError,
  startJsonProtocolServer,
} from './json-protocol.ts';

export interface SecretsManagerEmulator {
  readonly endpoint: string;
  stop(): Promise<void>;
}

interface Secret {
  name: string;
  arn: string;
  versionId: string;
  value: { SecretString: string } | { SecretBinary: string };
  createdDate: number;
}

/** Secrets Manager's limit on a secret's value. */
export const SECRET_MAX_BYTES = 65_536;

export async function startSecretsManagerEmulator(
  options: { region?: string; accountId?: string } = {},
): Promise<SecretsManagerEmulator> {
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const secrets = new Map<string, Secret>();

  /** The secret named by its name or its full ARN (as `SecretId` may be). */
  function find(input: Record<string, unknown>): Secret {
    const id = requiredString(input, 'SecretId');
    const secret = secrets.get(id) ?? [...secrets.values()].find((s) => s.arn === id);
    if (!secret)
      throw new ServiceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  }

  /** The value of a create or put: exactly one of SecretString and SecretBinary. */
  function secretValue(input: Record<string, unknown>): Secret['value'] {
    const text = optionalString(input, 'SecretString');
    const binary = input.SecretBinary === undefined ? undefined : blob(input, 'SecretBinary');
    if ((text === undefined) === (binary === undefined)) {
      throw new ServiceError(
        'InvalidParameterException',
        'You must provide either SecretString or SecretBinary.',
      );
    }
    const size = text === undefined ? (binary as Buffer).length : Buffer.byteLength(text, 'utf8');
    if (size > SECRET_MAX_BYTES) {
      throw new ServiceError(
        'InvalidParameterException',
        `The secret value is over ${SECRET_MAX_BYTES} bytes.`,
      );
    }
    return text === undefined
      ? { SecretBinary: (binary as Buffer).toString('base64') }
      : { SecretString: text };
  }

  const server = await startJsonProtocolServer({
    targetPrefix: 'secretsmanager',
    operations: {
      CreateSecret(input) {
        const name = requiredString(input, 'Name');
        if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) {
          throw new ServiceError('ValidationException', `Invalid name: ${name}`);
        }
        if (secrets.has(name)) {
          throw new ServiceError(
            'ResourceExistsException',
            `The operation failed because the secret ${name} already exists.`,
          );
        }
        // Secrets Manager ends a secret's ARN with a hyphen and six random characters.
        const suffix = randomBytes(6).toString('base64url').replace(/[-_]/g, 'x').slice(0, 6);
        const secret: Secret = {
          name,
          arn: `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${suffix}`,
          versionId: randomUUID(),
          value: secretValue(input),
          createdDate: Date.now() / 1000,
        };
        secrets.set(name, secret);
        return { ARN: secret.arn, Name: name, VersionId: secret.versionId };
      },
      DescribeSecret(input) {
        const secret = find(input);
        return {
          ARN: secret.arn,
          Name: secret.name,
          CreatedDate: secret.createdDate,
          VersionIdsToStages: { [secret.versionId]: ['AWSCURRENT'] },
        };
      },
      PutSecretValue(input) {
        const secret = find(input);
        secret.value = secretValue(input);
        secret.versionId = randomUUID();
        return {
          ARN: secret.arn,
          Name: secret.name,
          VersionId: secret.versionId,
          VersionStages: ['AWSCURRENT'],
        };
      },
      GetSecretValue(input) {
        const secret = find(input);
        const stage = optionalString(input, 'VersionStage');
        const version = optionalString(input, 'VersionId');
        if (
          (stage !== undefined && stage !== 'AWSCURRENT') ||
          (version !== undefined && version !== secret.versionId)
        ) {
          throw new ServiceError(
            'ResourceNotFoundException',
            "Secrets Manager can't find the specified secret value for staging label or version.",
          );
        }
        return {
          ARN: secret.arn,
          Name: secret.name,
          VersionId: secret.versionId,
          VersionStages: ['AWSCURRENT'],
          CreatedDate: secret.createdDate,
          ...secret.value,
        };
      },
    },
  });
  return { endpoint: server.endpoint, stop: server.close };
}
