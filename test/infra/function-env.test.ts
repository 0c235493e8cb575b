/**
 * Every function loads with exactly the environment the stack gives it: each reads and
 * checks its configuration at cold start, so a variable the stack forgot fails here,
 * not in a deployed Lambda.
 */
import { spawnSync } from 'node:child_process';
import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { type FunctionName, functions } from '#infra/functions.ts';
import type { CsvCampaignsStack } from '#infra/stack.ts';
import { buildStack, synthTimeoutMs } from './synth.ts';

let stack: CsvCampaignsStack;
let template: Template;

beforeAll(() => {
  stack = buildStack('dev').stack;
  template = Template.fromStack(stack);
}, synthTimeoutMs);

/** A well-formed stand-in for a value CloudFormation fills in at deploy time. */
function placeholder(name: string): string {
  if (name.endsWith('_URL')) return 'https://sqs.us-east-1.amazonaws.com/000000000000/placeholder';
  if (name.endsWith('_ARN')) return 'arn:aws:lambda:us-east-1:000000000000:function:placeholder';
  return 'placeholder';
}

function deployedEnvironment(fn: lambda.Function): Record<string, string> {
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

describe('function environments', () => {
  const byName = (): Record<FunctionName, lambda.Function> => ({
    templatesApi: stack.api.functions.templates,
    campaignsApi: stack.api.functions.campaigns,
    uploadsApi: stack.api.functions.uploads,
    notificationsApi: stack.api.functions.notifications,
    importCsv: stack.importer.importFunction,
    sendCampaign: stack.delivery.sendFunction,
    deliverBatch: stack.delivery.deliverFunction,
  });

  it.each(Object.keys(functions) as FunctionName[])(
    '%s loads with only the variables the stack sets',
    (name) => {
      const env = {
        PATH: process.env.PATH ?? '',
        AWS_REGION: 'us-east-1',
        ...deployedEnvironment(byName()[name]),
      };
      const entry = new URL(`../../${functions[name].entry}`, import.meta.url).href;
      const result = spawnSync(
        process.execPath,
        ['--input-type=module', '-e', `await import(${JSON.stringify(entry)});`],
        {
          env,
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
      expect(result.stderr).not.toMatch(/Invalid \w+ configuration/);
      expect(result.status).toBe(0);
    },
  );
});
