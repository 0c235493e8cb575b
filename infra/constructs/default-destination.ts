/**
 * The deployment's default destination, for apps without one of their own
 * (`-c defaultDestination`, infra/stages.ts):
 * - `sns`: a standard topic, encrypted with the stack's key, TLS only; the deliver
 *   function may publish to it and nothing else. Subscribe what reaches your users.
 * - `webhook`: the receiver's https URL and a Secrets Manager secret the stack generates
 *   (44 letters and digits, the base64 of 33 bytes: the Standard Webhooks secret, see
 *   shared/adapters/default-webhook-secret.ts), encrypted with the stack's key; the deliver
 *   function may read that one secret. The receiver's owner reads it to check signatures.
 * - `outbox`: a file in the deliver function's `/tmp`, read by no one (a demo stack).
 */
import { type RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { DefaultDestination as Kind } from '../stages.ts';
import type { Secrets } from './secrets.ts';

export interface DefaultDestinationProps {
  kind: Kind;
  /** Required with `kind: 'webhook'` (checked by `stageConfig`). */
  webhookUrl?: string;
  secrets: Secrets;
  removalPolicy: RemovalPolicy;
}

/** Length of the generated webhook secret: 44 base64 characters are 33 bytes (Standard Webhooks: 24-64). */
export const WEBHOOK_SECRET_LENGTH = 44;

export class DefaultDestination extends Construct {
  readonly kind: Kind;
  readonly topic: sns.Topic | undefined;
  readonly webhookSecret: secretsmanager.Secret | undefined;
  private readonly props: DefaultDestinationProps;

  constructor(scope: Construct, id: string, props: DefaultDestinationProps) {
    super(scope, id);
    this.props = props;
    this.kind = props.kind;
    const { key } = props.secrets;
    if (props.kind === 'sns') {
      this.topic = new sns.Topic(this, 'Topic', {
        displayName: 'CSV campaigns: messages of apps without a destination of their own',
        masterKey: key,
        enforceSSL: true,
      });
    }
    if (props.kind === 'webhook') {
      this.webhookSecret = new secretsmanager.Secret(this, 'WebhookSecret', {
        // Not the URL itself: it may carry a token of its own.
        description:
          "Signing secret (Standard Webhooks, base64) of the default webhook, the deliver function's WEBHOOK_URL",
        encryptionKey: key,
        removalPolicy: props.removalPolicy,
        generateSecretString: {
          passwordLength: WEBHOOK_SECRET_LENGTH,
          excludePunctuation: true,
          includeSpace: false,
        },
      });
      Validations.of(this.webhookSecret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'The receiver verifies signatures with this secret, so a rotation is agreed with its owner: put a new value (PutSecretValue) and the deliver function signs with it within 5 minutes (docs/deploy.md). An automatic rotation would break verification unannounced.',
      });
    }
  }

  /** Lets the deliver function use the destination, and sets its channel's variables. */
  useBy(fn: lambda.Function): void {
    if (this.topic) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [this.topic.topicArn] }),
      );
      // SNS encrypts each published message with a data key of the stack's key, on the publisher's behalf.
      this.props.secrets.useThrough(fn, 'sns', ['kms:GenerateDataKey', 'kms:Decrypt']);
      fn.addEnvironment('DELIVERY_CHANNEL', 'sns');
      fn.addEnvironment('SNS_TOPIC_ARN', this.topic.topicArn);
      return;
    }
    if (this.webhookSecret) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          resources: [this.webhookSecret.secretArn],
        }),
      );
      this.props.secrets.useThrough(fn, 'secretsmanager', ['kms:Decrypt']);
      fn.addEnvironment('DELIVERY_CHANNEL', 'webhook');
      fn.addEnvironment('WEBHOOK_URL', this.props.webhookUrl as string);
      fn.addEnvironment('WEBHOOK_SECRET_ARN', this.webhookSecret.secretArn);
      return;
    }
    fn.addEnvironment('DELIVERY_CHANNEL', 'outbox');
    // On Lambda only /tmp is writable.
    fn.addEnvironment('OUTBOX_PATH', '/tmp/outbox.jsonl');
  }
}
