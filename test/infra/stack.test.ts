import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { accessLogFields, gatewayErrors } from '#infra/constructs/api.ts';
import { checkVisibilityTimeout, deliveryBatchSize } from '#infra/constructs/delivery.ts';
import type { CampaignFunction } from '#infra/constructs/function.ts';
import { type FunctionName, functions } from '#infra/functions.ts';
import { binaryMediaTypes, routes } from '#infra/routes.ts';
import type { CsvCampaignsStack } from '#infra/stack.ts';
import { deliveryQueue, table as tableSpec, uploadsBucket } from '#shared/resources.ts';
import { buildStack, synthTimeoutMs } from './synth.ts';

let stack: CsvCampaignsStack;
let template: Template;
let outdir: string;
const ref = (c: IConstruct) => ({ Ref: stack.getLogicalId(c.node.defaultChild as CfnElement) });
const arn = (c: IConstruct) => ({
  'Fn::GetAtt': [stack.getLogicalId(c.node.defaultChild as CfnElement), 'Arn'],
});

beforeAll(() => {
  const built = buildStack('dev');
  stack = built.stack;
  template = Template.fromStack(stack);
  outdir = built.app.outdir;
}, synthTimeoutMs);

function lambdaOf(name: FunctionName) {
  const { api, importer, delivery } = stack;
  return {
    templatesApi: api.functions.templates,
    campaignsApi: api.functions.campaigns,
    uploadsApi: api.functions.uploads,
    notificationsApi: api.functions.notifications,
    destinationApi: api.functions.destination,
    importCsv: importer.importFunction,
    sendCampaign: delivery.sendFunction,
    deliverBatch: delivery.deliverFunction,
    exportsApi: api.functions.exports,
    exportRecipients: stack.exportFunction,
  }[name] as CampaignFunction;
}

describe('storage', () => {
  it('builds the table from resources.ts: keys, gsi1, TTL, on-demand, point-in-time recovery', () => {
    const index = tableSpec.indexes[0];
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: tableSpec.partitionKey, KeyType: 'HASH' },
        { AttributeName: tableSpec.sortKey, KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: tableSpec.ttlAttribute, Enabled: true },
      DeletionProtectionEnabled: false,
      GlobalSecondaryIndexes: [
        {
          IndexName: index.name,
          KeySchema: [
            { AttributeName: index.partitionKey, KeyType: 'HASH' },
            { AttributeName: index.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
  });

  it('encrypts the uploads bucket, blocks public access and logs server access', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: { DestinationBucketName: ref(stack.storage.accessLogsBucket) },
    });
  });

  it('expires uploaded CSV files after 7 days and reports after 30', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: uploadsBucket.uploadsPrefix, ExpirationInDays: 7, Status: 'Enabled' }),
          Match.objectLike({ Prefix: uploadsBucket.reportsPrefix, ExpirationInDays: 30, Status: 'Enabled' }),
        ]),
      },
    });
  });

  it('expires recipient exports after 2 days, as their records do', () => {
    expect(uploadsBucket.exportExpiryDays).toBe(2);
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: uploadsBucket.exportsPrefix, ExpirationInDays: 2, Status: 'Enabled' }),
        ]),
      },
    });
  });

  it('denies every request to either bucket that does not use TLS', () => {
    for (const bucket of [stack.storage.bucket, stack.storage.accessLogsBucket]) {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: ref(bucket),
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
  });

  it('starts the importer for objects created under uploads/ only', () => {
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: ref(stack.storage.bucket),
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: uploadsBucket.uploadsPrefix }] } },
            LambdaFunctionArn: arn(stack.importer.importFunction),
          },
        ],
      },
    });
  });
});

describe('api', () => {
  it.each(routes.map((r) => [r.method, r.path, r.function] as const))(
    'serves %s %s with the %s function',
    (method, path, fn) => {
      const resource = stack.api.restApi.root.resourceForPath(path);
      template.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: method,
        ResourceId: stack.resolve(resource.resourceId),
        AuthorizationType: 'NONE',
        Integration: {
          Type: 'AWS_PROXY',
          IntegrationHttpMethod: 'POST',
          Uri: { 'Fn::Join': ['', Match.arrayWith([arn(stack.api.functions[fn])])] },
        },
      });
    },
  );

  it.each([...new Set(routes.map((r) => r.path))])(
    'sends any other method on %s to its function, which answers 405',
    (path) => {
      const fn = routes.find((r) => r.path === path)?.function ?? 'campaigns';
      template.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: 'ANY',
        ResourceId: stack.resolve(stack.api.restApi.root.resourceForPath(path).resourceId),
        Integration: {
          Type: 'AWS_PROXY',
          Uri: { 'Fn::Join': ['', Match.arrayWith([arn(stack.api.functions[fn])])] },
        },
      });
    },
  );

  it('has no method beyond the routes of routes.ts and one ANY per route path', () => {
    template.resourceCountIs(
      'AWS::ApiGateway::Method',
      routes.length + new Set(routes.map((r) => r.path)).size,
    );
  });

  it('passes multipart and CSV bodies to the functions as binary', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      BinaryMediaTypes: [...binaryMediaTypes],
      EndpointConfiguration: { Types: ['REGIONAL'] },
    });
  });

  it('throttles, traces and access-logs the stage', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'dev',
      TracingEnabled: true,
      MethodSettings: [
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: 50,
          ThrottlingBurstLimit: 100,
        }),
      ],
      AccessLogSetting: {
        DestinationArn: arn(stack.api.accessLogs),
        Format: JSON.stringify(accessLogFields),
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });

  it.each(gatewayErrors.map((e) => [e.type.responseType, e.status ?? 'kept', e.code] as const))(
    'answers the gateway error %s with status %s and the API error envelope (%s)',
    (type, status, code) => {
      const found = template.findResources('AWS::ApiGateway::GatewayResponse', {
        Properties: { ResponseType: type, StatusCode: status === 'kept' ? Match.absent() : status },
      });
      const [response, ...others] = Object.values(found);
      expect(others).toHaveLength(0);
      const body = response?.Properties.ResponseTemplates?.['application/json'];
      // The VTL variable is a quoted string at run time; stand a sample in for it.
      const parsed = JSON.parse(String(body).replace('$context.error.messageString', '"sample"'));
      expect(parsed).toEqual({ error: { code, message: expect.any(String), details: {} } });
    },
  );

  it('answers 401, 403, 404, 413, 429 and every other 4xx/5xx from the gateway itself', () => {
    const types = gatewayErrors.map((e) => e.type.responseType);
    expect(types).toEqual(
      expect.arrayContaining([
        'UNAUTHORIZED',
        'ACCESS_DENIED',
        'MISSING_AUTHENTICATION_TOKEN',
        'RESOURCE_NOT_FOUND',
        'REQUEST_TOO_LARGE',
        'THROTTLED',
        'DEFAULT_4XX',
        'DEFAULT_5XX',
      ]),
    );
  });
});

describe('delivery', () => {
  it('gives the queue a visibility timeout of at least 6x the deliver timeout and the DLQ after maxReceiveCount', () => {
    expect(deliveryQueue.visibilityTimeoutSeconds).toBeGreaterThanOrEqual(
      6 * functions.deliverBatch.timeoutSeconds,
    );
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: deliveryQueue.visibilityTimeoutSeconds,
      MessageRetentionPeriod: deliveryQueue.retentionSeconds,
      SqsManagedSseEnabled: true,
      RedrivePolicy: {
        deadLetterTargetArn: arn(stack.delivery.deadLetterQueue),
        maxReceiveCount: deliveryQueue.maxReceiveCount,
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: functions.deliverBatch.timeoutSeconds,
      Handler: 'index.handler',
      Environment: { Variables: Match.objectLike({ DELIVERY_CHANNEL: 'sns' }) },
    });
  });

  it('refuses to build a queue whose visibility timeout is under 6x the consumer timeout', () => {
    expect(() => checkVisibilityTimeout(179, 30)).toThrow(/at least 6x/);
    expect(() => checkVisibilityTimeout(180, 30)).not.toThrow();
  });

  it('keeps dead letters 14 days, encrypted', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      MessageRetentionPeriod: deliveryQueue.deadLetter.retentionSeconds,
      SqsManagedSseEnabled: true,
    });
  });

  it('denies non-TLS access to both queues', () => {
    for (const queue of [stack.delivery.queue, stack.delivery.deadLetterQueue]) {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [ref(queue)],
        PolicyDocument: {
          Statement: [
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ],
        },
      });
    }
  });

  it('feeds the deliver function 10 messages at a time, with partial failures and a concurrency cap', () => {
    expect(deliveryBatchSize).toBe(10);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: arn(stack.delivery.queue),
      FunctionName: ref(stack.delivery.deliverFunction),
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
    });
  });
});

describe('secrets key', () => {
  it("is the stack's own symmetric key, rotated yearly, deleted with a dev stack", () => {
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({
        EnableKeyRotation: true,
        KeySpec: Match.absent(),
        KeyUsage: Match.absent(),
      }),
      DeletionPolicy: 'Delete',
    });
  });
});

describe('default destination (sns, the default)', () => {
  it('is a standard topic encrypted with the stack key', () => {
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: arn(stack.secrets.key),
      FifoTopic: Match.absent(),
    });
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
  });

  it('denies every publish to the topic without TLS', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [ref(stack.defaultDestination.topic as IConstruct)],
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ],
      },
    });
  });
});

describe('scheduling', () => {
  it('has a schedule group and a role only EventBridge Scheduler of this account assumes', () => {
    template.hasResourceProperties('AWS::Scheduler::ScheduleGroup', {
      Name: stack.scheduling.group.scheduleGroupName,
    });
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Action: 'sts:AssumeRole',
            Effect: 'Allow',
            Principal: { Service: 'scheduler.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          },
        ],
      },
    });
  });

  it('lets the scheduler role invoke the send function and nothing else', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [ref(stack.scheduling.schedulerRole)],
      PolicyDocument: {
        Statement: [
          { Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: arn(stack.delivery.sendFunction) },
        ],
      },
    });
  });

  it('tells the campaigns API the group, the role and the send function', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          SCHEDULE_GROUP_NAME: stack.scheduling.group.scheduleGroupName,
          SCHEDULER_ROLE_ARN: arn(stack.scheduling.schedulerRole),
          SEND_FUNCTION_ARN: arn(stack.delivery.sendFunction),
        }),
      },
    });
  });
});

describe('alarms', () => {
  it('alarms on any message in the dead-letter queue', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.anyValue(), 'QueueName'] } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('alarms on importer errors', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: ref(stack.importer.importFunction) }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('alarms on send function errors', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: ref(stack.delivery.sendFunction) }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('alarms on API 5xx', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/ApiGateway',
      MetricName: '5XXError',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });
});

describe('functions', () => {
  it.each(Object.keys(functions) as FunctionName[])(
    '%s runs Node 22 on ARM64 with active tracing (no answers, no errors), its limits, source maps and a retained log group',
    (name) => {
      const fn = lambdaOf(name);
      const spec = functions[name];
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        Timeout: spec.timeoutSeconds,
        MemorySize: spec.memoryMb,
        Role: arn(fn.role as IConstruct),
        LoggingConfig: { LogGroup: ref(fn.logGroup) },
        Environment: {
          Variables: Match.objectLike({
            NODE_OPTIONS: '--enable-source-maps',
            POWERTOOLS_SERVICE_NAME: 'csv-campaigns',
            POWERTOOLS_METRICS_NAMESPACE: 'CsvCampaigns',
            POWERTOOLS_LOG_LEVEL: 'INFO',
            // Traces hold neither answers nor error messages (user data).
            POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
            POWERTOOLS_TRACER_CAPTURE_ERROR: 'false',
          }),
        },
      });
      const logGroup = template.findResources('AWS::Logs::LogGroup', {
        Properties: { RetentionInDays: 7 },
      });
      expect(Object.keys(logGroup)).toContain(
        stack.getLogicalId(fn.logGroup.node.defaultChild as CfnElement),
      );
    },
  );
});

describe('bundling', () => {
  it('bundles each function into one ESM file with a require shim, #shared imports and the SDK inlined', () => {
    const fn = stack.api.functions.campaigns;
    const code = template.findResources('AWS::Lambda::Function', {
      Properties: { Role: arn(fn.role as IConstruct) },
    });
    const key = String(Object.values(code)[0]?.Properties.Code.S3Key);
    const bundle = readFileSync(join(outdir, `asset.${key.replace(/\.zip$/, '')}`, 'index.mjs'), 'utf8');
    expect(
      bundle.startsWith(
        "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
      ),
    ).toBe(true);
    expect(bundle).not.toMatch(/from\s*["']#shared\//);
    expect(bundle).not.toMatch(/from\s*["']@aws-sdk\//);
  });
});

describe('outputs', () => {
  it('prints the API URL, bucket, queue, table and the default topic', () => {
    expect(Object.keys(template.findOutputs('*')).sort()).toEqual(
      [
        'ApiUrl',
        'BucketName',
        'DeadLetterQueueUrl',
        'DefaultTopicArn',
        'DeliveryQueueUrl',
        'TableName',
      ].sort(),
    );
    template.hasOutput('DefaultTopicArn', { Value: ref(stack.defaultDestination.topic as IConstruct) });
    template.hasOutput('ApiUrl', {
      Value: {
        'Fn::Join': [
          '',
          Match.arrayWith([
            stack.resolve(stack.api.restApi.restApiId),
            stack.resolve(stack.api.restApi.deploymentStage.stageName),
            '/api',
          ]),
        ],
      },
    });
    template.hasOutput('BucketName', { Value: ref(stack.storage.bucket) });
    template.hasOutput('DeliveryQueueUrl', { Value: ref(stack.delivery.queue) });
    template.hasOutput('TableName', { Value: ref(stack.storage.table) });
  });
});
