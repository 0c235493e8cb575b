/**
 * Least privilege: the whole policy of every function, statement by statement, so a
 * new action or a widened resource fails here and is reviewed.
 */
import type { CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { tableActions } from '#infra/constructs/grants.ts';
import { appSecretCondition } from '#infra/constructs/secrets.ts';
import type { CsvCampaignsStack } from '#infra/stack.ts';
import { buildStack, synthTimeoutMs } from './synth.ts';

let stack: CsvCampaignsStack;
let template: Template;
const ref = (c: IConstruct) => ({ Ref: stack.getLogicalId(c.node.defaultChild as CfnElement) });
const arn = (c: IConstruct) => ({
  'Fn::GetAtt': [stack.getLogicalId(c.node.defaultChild as CfnElement), 'Arn'],
});

beforeAll(() => {
  stack = buildStack('dev').stack;
  template = Template.fromStack(stack);
}, synthTimeoutMs);

const allow = (Action: string | string[], Resource: unknown, extra: object = {}) => ({
  Action,
  Effect: 'Allow',
  Resource,
  ...extra,
});
/** Every function writes to its own log group and sends traces. */
const basics = (fn: lambda.Function) => [
  allow(['logs:CreateLogStream', 'logs:PutLogEvents'], arn(fn.logGroup)),
  allow(['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], '*'),
];
const tableReadWrite = () =>
  allow(
    [...tableActions.readWrite],
    [arn(stack.storage.table), { 'Fn::Join': ['', [arn(stack.storage.table), '/index/gsi1']] }],
  );
const objects = (action: string, prefix: string) =>
  allow(action, { 'Fn::Join': ['', [arn(stack.storage.bucket), `/${prefix}*`]] });
const sendToQueue = () => allow('sqs:SendMessage', arn(stack.delivery.queue));
/** Apps' signing secrets: only calls carrying an appId encryption context. */
const appSecrets = (actions: string | string[]) =>
  allow(actions, arn(stack.secrets.key), { Condition: appSecretCondition });
/** The stack key through SNS only: the topic's messages at rest. */
const keyThroughSns = () =>
  allow(['kms:GenerateDataKey', 'kms:Decrypt'], arn(stack.secrets.key), {
    Condition: {
      StringEquals: {
        'kms:ViaService': { 'Fn::Join': ['', ['sns.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
      },
    },
  });

function expectPolicy(fn: lambda.Function, statements: unknown[]) {
  template.hasResourceProperties('AWS::IAM::Policy', {
    Roles: [ref(fn.role as IConstruct)],
    PolicyDocument: { Statement: statements },
  });
  // One execution role per function, with no managed policy (no AWSLambdaBasicExecutionRole).
  template.hasResourceProperties('AWS::IAM::Role', {
    AssumeRolePolicyDocument: {
      Statement: [
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ],
    },
    ManagedPolicyArns: Match.absent(),
  });
  const roles = template.findResources('AWS::IAM::Role', {
    Properties: { ManagedPolicyArns: Match.anyValue() },
  });
  expect(Object.keys(roles)).not.toContain(
    stack.getLogicalId((fn.role as IConstruct).node.defaultChild as CfnElement),
  );
}

function expectEnvironment(fn: lambda.Function, variables: Record<string, unknown>) {
  template.hasResourceProperties('AWS::Lambda::Function', {
    Role: arn(fn.role as IConstruct),
    Environment: { Variables: Match.objectLike(variables) },
  });
}

describe('function permissions', () => {
  it('templates API: table items only', () => {
    const fn = stack.api.functions.templates;
    expectPolicy(fn, [...basics(fn), tableReadWrite()]);
    expectEnvironment(fn, { TABLE_NAME: ref(stack.storage.table) });
  });

  it('campaigns API: table, async invoke of the send function, schedules of its group, pass of the scheduler role', () => {
    const fn = stack.api.functions.campaigns;
    expectPolicy(fn, [
      ...basics(fn),
      tableReadWrite(),
      allow('lambda:InvokeFunction', arn(stack.delivery.sendFunction)),
      allow(
        ['scheduler:CreateSchedule', 'scheduler:DeleteSchedule', 'scheduler:GetSchedule'],
        stack.resolve(stack.scheduling.schedulesArn),
      ),
      allow('iam:PassRole', arn(stack.scheduling.schedulerRole), {
        Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    ]);
    expect(JSON.stringify(stack.resolve(stack.scheduling.schedulesArn))).toContain(
      `:schedule/${stack.scheduling.group.scheduleGroupName}/*`,
    );
    expectEnvironment(fn, {
      TABLE_NAME: ref(stack.storage.table),
      SEND_FUNCTION_ARN: arn(stack.delivery.sendFunction),
      SCHEDULE_GROUP_NAME: stack.scheduling.group.scheduleGroupName,
      SCHEDULER_ROLE_ARN: arn(stack.scheduling.schedulerRole),
    });
  });

  it('uploads API: table, put under uploads/ and get under reports/ (for presigned URLs)', () => {
    const fn = stack.api.functions.uploads;
    expectPolicy(fn, [
      ...basics(fn),
      tableReadWrite(),
      objects('s3:GetObject', 'reports/'),
      objects('s3:PutObject', 'uploads/'),
    ]);
    expectEnvironment(fn, { TABLE_NAME: ref(stack.storage.table), BUCKET_NAME: ref(stack.storage.bucket) });
  });

  it('notifications API: table, starting the send function and creating its backstop schedule, never the queue itself', () => {
    const fn = stack.api.functions.notifications;
    expectPolicy(fn, [
      ...basics(fn),
      tableReadWrite(),
      allow('lambda:InvokeFunction', arn(stack.delivery.sendFunction)),
      allow('scheduler:CreateSchedule', stack.resolve(stack.scheduling.schedulesArn)),
      allow('iam:PassRole', arn(stack.scheduling.schedulerRole), {
        Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    ]);
    expectEnvironment(fn, {
      TABLE_NAME: ref(stack.storage.table),
      SEND_FUNCTION_ARN: arn(stack.delivery.sendFunction),
      SCHEDULE_GROUP_NAME: stack.scheduling.group.scheduleGroupName,
      SCHEDULER_ROLE_ARN: arn(stack.scheduling.schedulerRole),
    });
  });

  it("destination API: table, and encrypting and decrypting apps' secrets with an appId context only", () => {
    const fn = stack.api.functions.destination;
    expectPolicy(fn, [...basics(fn), tableReadWrite(), appSecrets(['kms:Encrypt', 'kms:Decrypt'])]);
    expectEnvironment(fn, { TABLE_NAME: ref(stack.storage.table), SECRETS_KEY_ID: arn(stack.secrets.key) });
  });

  it('importer: table, get under uploads/, put under reports/', () => {
    const fn = stack.importer.importFunction;
    expectPolicy(fn, [
      ...basics(fn),
      tableReadWrite(),
      objects('s3:GetObject', 'uploads/'),
      objects('s3:PutObject', 'reports/'),
    ]);
    expectEnvironment(fn, { TABLE_NAME: ref(stack.storage.table), BUCKET_NAME: ref(stack.storage.bucket) });
  });

  it('exports API: table, async invoke of the export function, get under exports/ (for presigned URLs) only', () => {
    const fn = stack.api.functions.exports;
    expectPolicy(fn, [
      ...basics(fn),
      tableReadWrite(),
      allow('lambda:InvokeFunction', arn(stack.exportFunction)),
      objects('s3:GetObject', 'exports/'),
    ]);
    expectEnvironment(fn, {
      TABLE_NAME: ref(stack.storage.table),
      BUCKET_NAME: ref(stack.storage.bucket),
      EXPORT_FUNCTION_ARN: arn(stack.exportFunction),
    });
  });

  it('export function: table, and multipart writes (and their abort) under exports/ only, never a read', () => {
    const fn = stack.exportFunction;
    expectPolicy(fn, [
      ...basics(fn),
      tableReadWrite(),
      allow(['s3:PutObject', 's3:AbortMultipartUpload'], {
        'Fn::Join': ['', [arn(stack.storage.bucket), '/exports/*']],
      }),
    ]);
    expectEnvironment(fn, { TABLE_NAME: ref(stack.storage.table), BUCKET_NAME: ref(stack.storage.bucket) });
  });

  it('send: table and sending to the delivery queue', () => {
    const fn = stack.delivery.sendFunction;
    expectPolicy(fn, [...basics(fn), tableReadWrite(), sendToQueue()]);
    expectEnvironment(fn, {
      TABLE_NAME: ref(stack.storage.table),
      DELIVERY_QUEUE_URL: ref(stack.delivery.queue),
    });
  });

  it("deliver: the delivery queue (event source, and sending back paced chunks), the table, decrypting apps' secrets, publishing to the default topic", () => {
    const fn = stack.delivery.deliverFunction;
    expectPolicy(fn, [
      ...basics(fn),
      allow(
        [
          'sqs:ReceiveMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueUrl',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
        ],
        arn(stack.delivery.queue),
      ),
      tableReadWrite(),
      sendToQueue(),
      appSecrets('kms:Decrypt'),
      allow('sns:Publish', ref(stack.defaultDestination.topic as IConstruct)),
      keyThroughSns(),
    ]);
    expectEnvironment(fn, {
      TABLE_NAME: ref(stack.storage.table),
      DELIVERY_QUEUE_URL: ref(stack.delivery.queue),
      SECRETS_KEY_ID: arn(stack.secrets.key),
      DELIVERY_CHANNEL: 'sns',
      SNS_TOPIC_ARN: ref(stack.defaultDestination.topic as IConstruct),
    });
  });

  it('lets only the destination API encrypt, and only it and the deliver function use the key at all', () => {
    const keyUsers = (action: RegExp) =>
      Object.values(template.findResources('AWS::IAM::Policy'))
        .filter((p) =>
          (p.Properties.PolicyDocument.Statement as { Action: string | string[] }[]).some((st) =>
            [st.Action].flat().some((a) => action.test(a)),
          ),
        )
        .map((p) => JSON.stringify(p.Properties.Roles))
        .sort();
    const roleOf = (fn: lambda.Function) => JSON.stringify([ref(fn.role as IConstruct)]);
    expect(keyUsers(/^kms:Encrypt$/)).toEqual([roleOf(stack.api.functions.destination)]);
    expect(keyUsers(/^kms:/)).toEqual(
      [roleOf(stack.api.functions.destination), roleOf(stack.delivery.deliverFunction)].sort(),
    );
    expect(keyUsers(/^sns:/)).toEqual([roleOf(stack.delivery.deliverFunction)]);
    expect(keyUsers(/^secretsmanager:/)).toEqual([]);
  });

  it('never grants Scan, table management or any wildcard action', () => {
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policies).not.toMatch(
      /dynamodb:Scan|dynamodb:\*|s3:\*|sqs:\*|lambda:\*|kms:\*|sns:\*|secretsmanager:\*|DeleteTable|UpdateTable/,
    );
  });

  it('lets S3 invoke the importer from this bucket only, and API Gateway each API function', () => {
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: arn(stack.importer.importFunction),
      Principal: 's3.amazonaws.com',
      SourceArn: arn(stack.storage.bucket),
      SourceAccount: { Ref: 'AWS::AccountId' },
    });
    for (const fn of Object.values(stack.api.functions)) {
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: arn(fn),
        Principal: 'apigateway.amazonaws.com',
      });
    }
  });
});
