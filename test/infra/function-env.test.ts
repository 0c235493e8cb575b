/**
 * Every function loads with exactly the environment the stack gives it: each reads and
 * checks its configuration at cold start, so a variable the stack forgot fails here,
 * not in a deployed Lambda.
 */
import { Template } from 'aws-cdk-lib/assertions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { type FunctionName, functions } from '#infra/functions.ts';
import type { CsvCampaignsStack } from '#infra/stack.ts';
import { buildStack, deployedEnvironment, loadEntry, synthTimeoutMs } from './synth.ts';

let stack: CsvCampaignsStack;
let template: Template;

beforeAll(() => {
  stack = buildStack('dev').stack;
  template = Template.fromStack(stack);
}, synthTimeoutMs);

describe('function environments', () => {
  const byName = (): Record<FunctionName, lambda.Function> => ({
    templatesApi: stack.api.functions.templates,
    campaignsApi: stack.api.functions.campaigns,
    uploadsApi: stack.api.functions.uploads,
    notificationsApi: stack.api.functions.notifications,
    destinationApi: stack.api.functions.destination,
    importCsv: stack.importer.importFunction,
    sendCampaign: stack.delivery.sendFunction,
    deliverBatch: stack.delivery.deliverFunction,
    exportsApi: stack.api.functions.exports,
    exportRecipients: stack.exportFunction,
  });

  it.each(Object.keys(functions) as FunctionName[])(
    '%s loads with only the variables the stack sets',
    (name) => {
      const result = loadEntry(functions[name].entry, deployedEnvironment(stack, template, byName()[name]));
      expect(result.stderr).not.toMatch(/Invalid \w+ configuration/);
      expect(result.status).toBe(0);
    },
  );
});
