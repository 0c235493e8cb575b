/** Builds the stack the way `cdk synth` does (same context as cdk.json) for the infra tests. */
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { CsvCampaignsStack } from '#infra/stack.ts';
import { type StageConfig, stageConfig } from '#infra/stages.ts';

const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

export function buildStack(
  stage = 'dev',
  overrides: Partial<StageConfig> = {},
  outdir?: string,
): { app: App; stack: CsvCampaignsStack } {
  const app = new App({ context: cdkJson.context, outdir });
  const config = stageConfig(stage, overrides);
  const stack = new CsvCampaignsStack(app, `CsvCampaigns-${config.name}`, { stage: config });
  return { app, stack };
}

/** Bundling seven functions takes seconds, more on a shared machine. */
export const synthTimeoutMs = 180_000;
