/** What a stage changes: prod keeps its data and logs longer, delivers faster, and can use a webhook. */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { stageConfig } from '#infra/stages.ts';
import { buildStack, synthTimeoutMs } from './synth.ts';

const webhookUrl = 'https://hooks.example.com/deliver';
let template: Template;
let stackName: string;

beforeAll(() => {
  const { stack } = buildStack('prod', { webhookUrl });
  stackName = stack.stackName;
  template = Template.fromStack(stack);
}, synthTimeoutMs);

describe('prod stage', () => {
  it('is its own stack, so dev and prod deploy side by side', () => {
    expect(stackName).toBe('CsvCampaigns-prod');
  });

  it('retains the table with deletion protection, and the buckets and log groups', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({ DeletionProtectionEnabled: true }),
    });
    const buckets = template.findResources('AWS::S3::Bucket');
    expect(Object.values(buckets).map((b) => b.DeletionPolicy)).toEqual(['Retain', 'Retain']);
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
    const logGroups = Object.values(template.findResources('AWS::Logs::LogGroup'));
    expect(logGroups.length).toBe(8);
    for (const group of logGroups) {
      expect(group.DeletionPolicy).toBe('Retain');
      expect(group.Properties.RetentionInDays).toBe(90);
    }
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

  it('delivers to the webhook given as -c webhookUrl', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ DELIVERY_CHANNEL: 'webhook', WEBHOOK_URL: webhookUrl }) },
    });
  });
});

describe('stage names', () => {
  it('gives an unknown stage the dev settings under its own name', () => {
    const config = stageConfig('feature-x');
    expect(config.name).toBe('feature-x');
    expect(config.deletionProtection).toBe(false);
  });

  it('rejects a name CloudFormation cannot use in a stack name', () => {
    expect(() => stageConfig('bad_name!')).toThrow(/must start with a letter/);
  });

  it('ignores an empty override from context', () => {
    expect(stageConfig('dev', { webhookUrl: undefined }).webhookUrl).toBeUndefined();
  });
});
