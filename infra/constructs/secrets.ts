/**
 * The stack's KMS key. It encrypts each app's webhook signing secret (the destination
 * API calls KMS `Encrypt` with the encryption context `{ appId }`), and the default
 * destination's data at rest: the SNS topic's messages, or the default webhook's secret
 * in Secrets Manager. Every grant on it names its use: app secrets only with an `appId`
 * context, the others only through their service (`kms:ViaService`).
 */
import { type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { secretsKey } from '#shared/resources.ts';

export interface SecretsProps {
  /** What happens to the key on stack deletion (DESTROY schedules its deletion). */
  removalPolicy: RemovalPolicy;
}

/** The actions on apps' secrets: the destination API stores and reads them, the deliver function reads. */
export const appSecretActions = {
  encryptDecrypt: ['kms:Encrypt', 'kms:Decrypt'],
  decrypt: ['kms:Decrypt'],
} as const;

/** Every app-secret call carries the app's id as encryption context (shared/adapters/secret-cipher.ts). */
export const appSecretCondition = { Null: { 'kms:EncryptionContext:appId': 'false' } } as const;

export class Secrets extends Construct {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: SecretsProps) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: secretsKey.description,
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy,
    });
  }

  /** Encrypts and/or decrypts apps' signing secrets, with an `appId` context only; sets `SECRETS_KEY_ID`. */
  useForAppSecrets(fn: lambda.Function, access: keyof typeof appSecretActions): void {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [...appSecretActions[access]],
        resources: [this.key.keyArn],
        conditions: appSecretCondition,
      }),
    );
    fn.addEnvironment('SECRETS_KEY_ID', this.key.keyArn);
  }

  /** Lets `fn` use the key through `service` only (`sns`, `secretsmanager`), for that service's data at rest. */
  useThrough(fn: lambda.Function, service: string, actions: readonly string[]): void {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [...actions],
        resources: [this.key.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `${service}.${Stack.of(this).region}.amazonaws.com` },
        },
      }),
    );
  }
}
