/**
 * What a stage changes: prod keeps its data and logs longer and delivers faster; and the
 * default destination chosen by context (sns, webhook, outbox), checked before synthesis.
 */
import { type CfnElement, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DefaultDestination, WEBHOOK_SECRET_LENGTH } from '#infra/constructs/default-destination.ts';
import { Secrets } from '#infra/constructs/secrets.ts';
import { functions } from '#infra/functions.ts';
import type { CsvCampaignsStack } from '#infra/stack.ts';
import { stageConfig } from '#infra/stages.ts';
import { signingSecretFrom } from '#shared/adapters/default-webhook-secret.ts';
import { buildStack, deployedEnvironment, loadEntry, synthTimeoutMs } from './synth.ts';

const webhookUrl = 'https://hooks.example.com/deliver';
let stack: CsvCampaignsStack;
let template: Template;

beforeAll(() => {
  // A webhook URL alone chooses the webhook, as it did before defaultDestination existed.
  stack = buildStack('prod', { webhookUrl, defaultRatePerSecond: '50' }).stack;
  template = Template.fromStack(stack);
}, synthTimeoutMs);

const ref = (c: IConstruct) => ({ Ref: stack.getLogicalId(c.node.defaultChild as CfnElement) });
const arn = (c: IConstruct) => ({
  'Fn::GetAtt': [stack.getLogicalId(c.node.defaultChild as CfnElement), 'Arn'],
});

describe('prod stage', () => {
  it('is its own stack, so dev and prod deploy side by side', () => {
    expect(stack.stackName).toBe('CsvCampaigns-prod');
  });

  it('retains the table with deletion protection, the buckets, the log groups, the key and the secret', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({ DeletionProtectionEnabled: true }),
    });
    const buckets = template.findResources('AWS::S3::Bucket');
    expect(Object.values(buckets).map((b) => b.DeletionPolicy)).toEqual(['Retain', 'Retain']);
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
    const logGroups = Object.values(template.findResources('AWS::Logs::LogGroup'));
    expect(logGroups.length).toBe(Object.keys(functions).length + 1);
    for (const group of logGroups) {
      expect(group.DeletionPolicy).toBe('Retain');
      expect(group.Properties.RetentionInDays).toBe(90);
    }
    template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    template.hasResource('AWS::SecretsManager::Secret', { DeletionPolicy: 'Retain' });
  });

  it('uses the prod delivery concurrency and API throttling', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      ScalingConfig: { MaximumConcurrency: 50 },
    });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'prod',
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1000 })],
    });
  });
});

describe('default destination webhook (-c webhookUrl=https://…)', () => {
  it('generates a secret in a form the deliver function accepts, encrypted with the stack key, and no topic', () => {
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      KmsKeyId: arn(stack.secrets.key),
      GenerateSecretString: {
        PasswordLength: WEBHOOK_SECRET_LENGTH,
        ExcludePunctuation: true,
        IncludeSpace: false,
        SecretStringTemplate: Match.absent(),
      },
    });
    // What Secrets Manager generates: letters and digits only, this many of them.
    const arnOf = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:x-AbCdEf';
    expect(signingSecretFrom('aB3'.repeat(15).slice(0, WEBHOOK_SECRET_LENGTH), arnOf)).toMatch(/^whsec_/);
  });

  it('lets the deliver function read that one secret, and decrypt through Secrets Manager only', () => {
    const fn = stack.delivery.deliverFunction;
    const secret = stack.defaultDestination.webhookSecret as IConstruct;
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [ref(fn.role as IConstruct)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          { Action: 'secretsmanager:GetSecretValue', Effect: 'Allow', Resource: ref(secret) },
          {
            Action: 'kms:Decrypt',
            Effect: 'Allow',
            Resource: arn(stack.secrets.key),
            Condition: {
              StringEquals: {
                'kms:ViaService': {
                  'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']],
                },
              },
            },
          },
        ]),
      },
    });
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policies.match(/secretsmanager:GetSecretValue/g)).toHaveLength(1);
    expect(policies).not.toMatch(/sns:Publish/);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: arn(fn.role as IConstruct),
      Environment: {
        Variables: Match.objectLike({
          DELIVERY_CHANNEL: 'webhook',
          WEBHOOK_URL: webhookUrl,
          WEBHOOK_SECRET_ARN: ref(secret),
        }),
      },
    });
  });

  it("prints the secret's ARN for the receiver's owner", () => {
    template.hasOutput('DefaultWebhookSecretArn', {
      Value: ref(stack.defaultDestination.webhookSecret as IConstruct),
    });
    expect(Object.keys(template.findOutputs('*'))).not.toContain('DefaultTopicArn');
  });

  it('gives the deliver function an environment it loads with', () => {
    const env = deployedEnvironment(stack, template, stack.delivery.deliverFunction);
    const result = loadEntry(functions.deliverBatch.entry, env);
    expect(result.stderr).not.toMatch(/Invalid \w+ configuration/);
    expect(result.status).toBe(0);
  });
});

describe('default destination outbox (-c defaultDestination=outbox)', () => {
  it('writes to /tmp and creates and grants nothing', () => {
    const bare = new Stack();
    const fn = new lambda.Function(bare, 'Deliver', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('export const handler = () => {};'),
    });
    const secrets = new Secrets(bare, 'Secrets', { removalPolicy: RemovalPolicy.DESTROY });
    new DefaultDestination(bare, 'Default', {
      kind: 'outbox',
      secrets,
      removalPolicy: RemovalPolicy.DESTROY,
    }).useBy(fn);
    const outbox = Template.fromStack(bare);
    outbox.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { DELIVERY_CHANNEL: 'outbox', OUTBOX_PATH: '/tmp/outbox.jsonl' } },
    });
    outbox.resourceCountIs('AWS::SNS::Topic', 0);
    outbox.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(JSON.stringify(outbox.findResources('AWS::IAM::Policy'))).not.toMatch(/sns:|secretsmanager:|kms:/);
  });
});

describe('default rate (-c defaultRatePerSecond=…)', () => {
  it('paces the default channel: the send function, the consumer, the campaigns and destination APIs know the rate', () => {
    const given = [
      stack.delivery.sendFunction,
      stack.delivery.deliverFunction,
      stack.api.functions.campaigns,
      stack.api.functions.destination,
    ];
    for (const fn of given) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Role: arn(fn.role as IConstruct),
        Environment: { Variables: Match.objectLike({ DELIVERY_RATE_PER_SECOND: '50' }) },
      });
    }
    const others = Object.entries(template.findResources('AWS::Lambda::Function')).filter(
      ([, r]) => r.Properties.Environment?.Variables?.DELIVERY_RATE_PER_SECOND !== undefined,
    );
    expect(others).toHaveLength(given.length);
  });

  it('is unset when not given, and refuses what is not a whole rate from 1 to 10,000', () => {
    expect(stageConfig('dev').defaultRatePerSecond).toBeUndefined();
    expect(stageConfig('dev', { defaultRatePerSecond: '10000' }).defaultRatePerSecond).toBe(10_000);
    for (const bad of ['0', '2.5', 'fast', '10001']) {
      expect(() => stageConfig('dev', { defaultRatePerSecond: bad })).toThrow(
        `-c defaultRatePerSecond=${bad}: must be a whole number of messages per second from 1 to 10000 (leave it out for no limit).`,
      );
    }
  });
});

describe('stage configuration', () => {
  it('gives an unknown stage the dev settings under its own name', () => {
    const config = stageConfig('feature-x');
    expect(config.name).toBe('feature-x');
    expect(config.deletionProtection).toBe(false);
  });

  it('rejects a name CloudFormation cannot use in a stack name', () => {
    expect(() => stageConfig('bad_name!')).toThrow(/must start with a letter/);
  });

  it('ignores empty overrides from context', () => {
    const config = stageConfig('dev', { webhookUrl: '', defaultDestination: '' });
    expect(config.defaultDestination).toBe('sns');
    expect(config.webhookUrl).toBeUndefined();
  });

  it('defaults to SNS, takes a webhook URL alone as the webhook, and outbox only when chosen', () => {
    expect(stageConfig('dev').defaultDestination).toBe('sns');
    expect(stageConfig('dev', { webhookUrl }).defaultDestination).toBe('webhook');
    expect(stageConfig('dev', { defaultDestination: 'webhook', webhookUrl })).toMatchObject({
      defaultDestination: 'webhook',
      webhookUrl,
    });
    expect(stageConfig('dev', { defaultDestination: 'outbox' }).defaultDestination).toBe('outbox');
  });

  it.each([
    [
      { defaultDestination: 'sqs' },
      '-c defaultDestination=sqs: must be one of sns, webhook, outbox (sns when not given).',
    ],
    [
      { defaultDestination: 'webhook' },
      "-c defaultDestination=webhook needs the receiver's URL: add -c webhookUrl=https://… (or choose -c defaultDestination=sns).",
    ],
    [
      { defaultDestination: 'webhook', webhookUrl: 'http://hooks.example.com/deliver' },
      "-c webhookUrl must be an https:// URL (deliveries carry users' messages and a signature), got http://hooks.example.com.",
    ],
    [
      { webhookUrl: 'hooks.example.com' },
      "-c webhookUrl=hooks.example.com is not a URL: give the receiver's https://… URL.",
    ],
    [
      { defaultDestination: 'sns', webhookUrl },
      '-c webhookUrl is used only with -c defaultDestination=webhook, not sns: drop one of the two.',
    ],
  ])('refuses %j before synthesis, saying what to give', (overrides, message) => {
    expect(() => stageConfig('dev', overrides)).toThrow(message);
  });
});
