/**
 * The CDK app: `npx cdk deploy -c stage=dev` (the default) or `-c stage=prod`. The default
 * destination, for apps without their own: `-c defaultDestination=sns` (the default, a topic
 * the stack creates), `-c defaultDestination=webhook -c webhookUrl=https://…`, or
 * `-c defaultDestination=outbox` (a demo stack that reaches no one). Its pace, for every app on
 * it together: `-c defaultRatePerSecond=50` (none by default). See docs/deploy.md.
 */
import { App } from 'aws-cdk-lib';
import { CsvCampaignsStack } from './stack.ts';
import { stageConfig } from './stages.ts';

const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return typeof value === 'string' && value !== '' ? value : undefined;
};
const stage = stageConfig(context('stage') ?? 'dev', {
  defaultDestination: context('defaultDestination'),
  webhookUrl: context('webhookUrl'),
  defaultRatePerSecond: context('defaultRatePerSecond'),
});

new CsvCampaignsStack(app, `CsvCampaigns-${stage.name}`, {
  stage,
  description: `CSV batch campaign delivery (${stage.name})`,
  // Environment-agnostic: nothing is looked up at synth, so the same template deploys to
  // whichever account and region the credentials of `cdk deploy` name.
});
