/**
 * cdk-nag's AwsSolutions pack over each stage: no finding may remain unacknowledged, and
 * every acknowledgement carries its reason (Validations.of(...).acknowledge in the constructs).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import type { StageOverrides } from '#infra/stages.ts';
import { buildStack, synthTimeoutMs } from './synth.ts';

interface Violation {
  ruleName: string;
  severity: string;
  violatingConstructs?: { constructPath: string }[];
}
interface ValidationReport {
  pluginReports: { pluginName: string; conclusion: string; violations: Violation[] }[];
}

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

/** Synthesizes a stage with the AwsSolutions pack and returns its findings, errors and warnings. */
function nagFindings(stage: string, overrides: StageOverrides = {}): string[] {
  const outdir = mkdtempSync(join(tmpdir(), 'csv-campaigns-nag-'));
  outdirs.push(outdir);
  const { app } = buildStack(stage, overrides, outdir);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  try {
    app.synth();
  } catch (error) {
    // A failed validation throws after writing its report; anything else is a real error.
    if (!String(error).includes('Validation failed')) throw error;
  }
  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as ValidationReport;
  return report.pluginReports.flatMap((plugin) =>
    plugin.violations.flatMap((v) =>
      (v.violatingConstructs ?? [{ constructPath: '?' }]).map(
        (c) => `${v.severity} ${v.ruleName} ${c.constructPath}`,
      ),
    ),
  );
}

describe('cdk-nag AwsSolutions', () => {
  it.each([
    ['dev', {}],
    ['prod', {}],
    ['prod', { defaultDestination: 'webhook', webhookUrl: 'https://hooks.example.com/deliver' }],
  ] as const)(
    'leaves no unacknowledged finding in the %s stage with %j',
    (stage, overrides) => {
      expect(nagFindings(stage, overrides)).toEqual([]);
    },
    synthTimeoutMs,
  );
});
