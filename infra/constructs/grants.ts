/**
 * Grants and the environment variable naming the resource, set together: a function
 * that can reach a resource knows its name, and one that knows the name can reach it,
 * with only the actions it uses.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { table as tableSpec } from '#shared/resources.ts';

/** Item-level DynamoDB actions; no Scan, no table management. */
export const tableActions = {
  read: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'],
  readWrite: [
    'dynamodb:GetItem',
    'dynamodb:BatchGetItem',
    'dynamodb:Query',
    'dynamodb:ConditionCheckItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:BatchWriteItem',
  ],
} as const;

/** The table and its indexes (named in `resources.ts`, so no `index/*` wildcard). */
export function tableResources(table: dynamodb.ITable): string[] {
  return [table.tableArn, ...tableSpec.indexes.map((i) => `${table.tableArn}/index/${i.name}`)];
}

/** Reads (and writes) the table's items; sets `TABLE_NAME`. */
export function useTable(fn: lambda.Function, table: dynamodb.ITable, access: 'read' | 'readWrite'): void {
  fn.addToRolePolicy(
    new iam.PolicyStatement({ actions: [...tableActions[access]], resources: tableResources(table) }),
  );
  fn.addEnvironment('TABLE_NAME', table.tableName);
}

export interface BucketAccess {
  /** Key prefixes (`uploads/`) the function reads objects under. */
  read?: readonly string[];
  /** Key prefixes the function writes objects under. */
  write?: readonly string[];
  /** Key prefixes the function writes multipart uploads under, aborting its failed ones. */
  multipartWrite?: readonly string[];
}

/** Gets and puts objects under the given prefixes only; sets `BUCKET_NAME`. */
export function useBucket(fn: lambda.Function, bucket: s3.Bucket, access: BucketAccess): void {
  const grant = (action: string | string[], prefix: string) => {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: typeof action === 'string' ? [action] : action,
        resources: [bucket.arnForObjects(`${prefix}*`)],
      }),
    );
    const logicalId = Stack.of(bucket).getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
    if (fn.role) {
      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${prefix}*]`,
        reason: `Object keys are generated per app, campaign and upload at run time; access is scoped to the '${prefix}' prefix of the one bucket.`,
      });
    }
  };
  for (const prefix of access.read ?? []) grant('s3:GetObject', prefix);
  for (const prefix of access.write ?? []) grant('s3:PutObject', prefix);
  // PutObject covers CreateMultipartUpload, UploadPart and CompleteMultipartUpload.
  for (const prefix of access.multipartWrite ?? [])
    grant(['s3:PutObject', 's3:AbortMultipartUpload'], prefix);
  fn.addEnvironment('BUCKET_NAME', bucket.bucketName);
}

/** Sends messages (single and batch) to the delivery queue; sets `DELIVERY_QUEUE_URL`. */
export function useDeliveryQueue(fn: lambda.Function, queue: sqs.IQueue): void {
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }));
  fn.addEnvironment('DELIVERY_QUEUE_URL', queue.queueUrl);
}

/** Invokes the export function asynchronously (a large export); sets `EXPORT_FUNCTION_ARN`. */
export function useExportFunction(fn: lambda.Function, exporter: lambda.IFunction): void {
  fn.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [exporter.functionArn] }),
  );
  fn.addEnvironment('EXPORT_FUNCTION_ARN', exporter.functionArn);
}

/** Invokes the send function asynchronously ("send now"); sets `SEND_FUNCTION_ARN`. */
export function useSendFunction(fn: lambda.Function, send: lambda.IFunction): void {
  fn.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [send.functionArn] }),
  );
  fn.addEnvironment('SEND_FUNCTION_ARN', send.functionArn);
}
