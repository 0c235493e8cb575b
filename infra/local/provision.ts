/**
 * Creates the table, bucket and queues of `shared/resources.ts` where they are missing,
 * against whatever endpoint the SDK is given (the embedded emulators or LocalStack).
 * The local runtime adds the secrets key and the default webhook's secret
 * (`ensureSecretsKey`, `ensureDefaultWebhookSecret`) on the KMS and Secrets Manager it uses.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { newSigningSecret } from '#shared/domain/destinations.ts';
import { defaultWebhookSecret, deliveryQueue, secretsKey, table, uploadsBucket } from '#shared/resources.ts';

export interface Endpoints {
  dynamodb?: string;
  s3?: string;
  sqs?: string;
}

export interface ProvisionedResources {
  tableName: string;
  bucketName: string;
  deliveryQueueUrl: string;
  deadLetterQueueUrl: string;
}

export async function provision(endpoints: Endpoints, region: string): Promise<ProvisionedResources> {
  const [tableName, bucketName, queues] = await Promise.all([
    ensureTable(new DynamoDBClient({ region, endpoint: endpoints.dynamodb })),
    ensureBucket(new S3Client({ region, endpoint: endpoints.s3, forcePathStyle: true })),
    ensureQueues(new SQSClient({ region, endpoint: endpoints.sqs }), endpoints.sqs),
  ]);
  return { tableName, bucketName, ...queues };
}

async function ensureTable(client: DynamoDBClient): Promise<string> {
  const TableName = table.localName;
  try {
    await client.send(new DescribeTableCommand({ TableName }));
    return TableName;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  const index = table.indexes[0];
  await client.send(
    new CreateTableCommand({
      TableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [table.partitionKey, table.sortKey, index.partitionKey, index.sortKey].map(
        (name) => ({
          AttributeName: name,
          AttributeType: 'S',
        }),
      ),
      KeySchema: [
        { AttributeName: table.partitionKey, KeyType: 'HASH' },
        { AttributeName: table.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: table.indexes.map((gsi) => ({
        IndexName: gsi.name,
        KeySchema: [
          { AttributeName: gsi.partitionKey, KeyType: 'HASH' },
          { AttributeName: gsi.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      })),
    }),
  );
  await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName });
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName,
      TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true },
    }),
  );
  return TableName;
}

async function ensureBucket(client: S3Client): Promise<string> {
  const Bucket = uploadsBucket.localName;
  try {
    await client.send(new HeadBucketCommand({ Bucket }));
  } catch {
    await client.send(new CreateBucketCommand({ Bucket }));
  }
  return Bucket;
}

async function ensureQueues(
  client: SQSClient,
  endpoint: string | undefined,
): Promise<{ deliveryQueueUrl: string; deadLetterQueueUrl: string }> {
  const dlq = await client.send(
    new CreateQueueCommand({
      QueueName: deliveryQueue.deadLetter.localName,
      Attributes: { MessageRetentionPeriod: String(deliveryQueue.deadLetter.retentionSeconds) },
    }),
  );
  const deadLetterQueueUrl = onEndpoint(required(dlq.QueueUrl), endpoint);
  const attributes = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: deadLetterQueueUrl, AttributeNames: ['QueueArn'] }),
  );
  const main = await client.send(
    new CreateQueueCommand({
      QueueName: deliveryQueue.localName,
      Attributes: {
        VisibilityTimeout: String(deliveryQueue.visibilityTimeoutSeconds),
        MessageRetentionPeriod: String(deliveryQueue.retentionSeconds),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: required(attributes.Attributes?.QueueArn),
          maxReceiveCount: deliveryQueue.maxReceiveCount,
        }),
      },
    }),
  );
  return { deliveryQueueUrl: onEndpoint(required(main.QueueUrl), endpoint), deadLetterQueueUrl };
}

/**
 * The alias of the secrets key (`SECRETS_KEY_ID`), creating the key and its alias when the
 * alias names none: on the KMS emulator at every start, on LocalStack once.
 */
export async function ensureSecretsKey(client: KMSClient): Promise<string> {
  const AliasName = secretsKey.localAlias;
  try {
    await client.send(new DescribeKeyCommand({ KeyId: AliasName }));
    return AliasName;
  } catch (error) {
    if (!isNamed(error, 'NotFoundException')) throw error;
  }
  const { KeyMetadata } = await client.send(new CreateKeyCommand({ Description: secretsKey.description }));
  try {
    await client.send(new CreateAliasCommand({ AliasName, TargetKeyId: required(KeyMetadata?.KeyId) }));
  } catch (error) {
    // Another process provisioned it meanwhile: use its key (the one just made stays unused).
    if (!isNamed(error, 'AlreadyExistsException')) throw error;
  }
  return AliasName;
}

/**
 * The ARN of the default webhook's signing secret (`WEBHOOK_SECRET_ARN`), creating it
 * with a new `whsec_` secret when it does not exist. Its value is never returned or
 * printed: read it with `GetSecretValue` to check signatures.
 */
export async function ensureDefaultWebhookSecret(client: SecretsManagerClient): Promise<string> {
  const Name = defaultWebhookSecret.localName;
  const describe = async () =>
    required((await client.send(new DescribeSecretCommand({ SecretId: Name }))).ARN);
  try {
    return await describe();
  } catch (error) {
    if (!isNamed(error, 'ResourceNotFoundException')) throw error;
  }
  try {
    const created = await client.send(new CreateSecretCommand({ Name, SecretString: newSigningSecret() }));
    return required(created.ARN);
  } catch (error) {
    if (!isNamed(error, 'ResourceExistsException')) throw error;
    return describe();
  }
}

function isNamed(error: unknown, name: string): boolean {
  return error instanceof Error && error.name === name;
}

/**
 * Emulators name hosts such as `sqs.us-east-1.localhost` in queue URLs, which need not
 * resolve; the same path on the endpoint we reached them at always does.
 */
function onEndpoint(queueUrl: string, endpoint: string | undefined): string {
  if (!endpoint) return queueUrl;
  return new URL(new URL(queueUrl).pathname, endpoint).toString();
}

function required<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('the service answered without a value it must return');
  return value;
}
