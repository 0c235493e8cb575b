/** Builds the stack the way `cdk synth` does (same context as cdk.json) for the infra tests. */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { App, type CfnElement } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { CsvCampaignsStack } from '#infra/stack.ts';
import { type StageOverrides, stageConfig } from '#infra/stages.ts';

const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

export function buildStack(
  stage = 'dev',
  overrides: StageOverrides = {},
  outdir?: string,
): { app: App; stack: CsvCampaignsStack } {
  const app = new App({ context: cdkJson.context, outdir });
  const config = stageConfig(stage, overrides);
  const stack = new CsvCampaignsStack(app, `CsvCampaigns-${config.name}`, { stage: config });
  return { app, stack };
}

/** Bundling eight functions takes seconds, more on a shared machine. */
export const synthTimeoutMs = 180_000;

/** A well-formed stand-in for a value CloudFormation fills in at deploy time, by the variable's name. */
export function placeholder(name: string): string {
  const stand: Record<string, string> = {
    SNS_TOPIC_ARN: 'arn:aws:sns:us-east-1:000000000000:placeholder',
    WEBHOOK_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:placeholder-AbCdEf',
    SECRETS_KEY_ID: 'arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000',
  };
  if (stand[name]) return stand[name];
  if (name.endsWith('_URL')) return 'https://sqs.us-east-1.amazonaws.com/000000000000/placeholder';
  if (name.endsWith('_ARN')) return 'arn:aws:lambda:us-east-1:000000000000:function:placeholder';
  return 'placeholder';
}

/** The environment the template gives `fn`, with stand-ins for the values known at deploy time. */
export function deployedEnvironment(
  stack: CsvCampaignsStack,
  template: Template,
  fn: lambda.Function,
): Record<string, string> {
  const logicalId = stack.getLogicalId(fn.node.defaultChild as CfnElement);
  const resource = template.toJSON().Resources[logicalId];
  const variables = (resource?.Properties?.Environment?.Variables ?? {}) as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(variables).map(([name, value]) => [
      name,
      typeof value === 'string' ? value : placeholder(name),
    ]),
  );
}

/** Loads a function's entry in a process of its own, with `env` only (and PATH, a region). */
export function loadEntry(entry: string, env: Record<string, string>): SpawnSyncReturns<string> {
  const url = new URL(`../../${entry}`, import.meta.url).href;
  return spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(url)});`], {
    env: { PATH: process.env.PATH ?? '', AWS_REGION: 'us-east-1', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}
