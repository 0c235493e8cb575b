/**
 * Creates the table, bucket and queues of `infra/resources.ts` where they are missing,
 * against whatever endpoint the SDK is given (the embedded emulators or LocalStack).
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { deliveryQueue, table, uploadsBucket } from '../resources.ts';

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
