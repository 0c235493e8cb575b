/**
 * The one Lambda function construct of the project. It fixes what every function shares
 * (runtime, architecture, tracing, log group, source maps, esbuild bundling, Powertools
 * settings), so a function states only its entry, limits and grants.
 */
import { fileURLToPath } from 'node:url';
import type { RemovalPolicy } from 'aws-cdk-lib';
import { Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { FunctionSpec } from '../functions.ts';

/** The repository root: entries in `infra/functions.ts` are relative to it. */
export const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface CampaignFunctionProps {
  /** Entry, timeout and memory, from `infra/functions.ts`. */
  spec: FunctionSpec;
  logRetention: logs.RetentionDays;
  /** What happens to the log group when the stack is deleted. */
  logRemovalPolicy: RemovalPolicy;
}

/**
 * The environment every function starts with. Resource names are added with their
 * grants (`grants.ts`), never here.
 */
export const functionEnvironment: Readonly<Record<string, string>> = {
  NODE_OPTIONS: '--enable-source-maps',
  POWERTOOLS_SERVICE_NAME: 'csv-campaigns',
  POWERTOOLS_METRICS_NAMESPACE: 'CsvCampaigns',
  POWERTOOLS_LOG_LEVEL: 'INFO',
  // Traces hold no user data. No responses: an answer carries recipients, variables and
  // upload details (shared/lambda.ts passes `captureResponse: false` too; this also covers
  // any `tracer.captureMethod`). No error details either: messages quote what the caller
  // sent (user ids, CSV columns, field values) and what a webhook answered, and the stack
  // goes with them; with `false` the segment only gets its error flag, and the logs, which
  // are checked to hold no user data, say what failed.
  POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
  POWERTOOLS_TRACER_CAPTURE_ERROR: 'false',
};

/** What the stage decides for every function. */
export type FunctionDefaults = Pick<CampaignFunctionProps, 'logRetention' | 'logRemovalPolicy'>;

export class CampaignFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: CampaignFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    // An explicit role instead of AWSLambdaBasicExecutionRole: the function may write to
    // its own log group only, not create or write any log group of the account.
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.spec.entry}`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    super(scope, id, {
      entry: `${projectRoot}${props.spec.entry}`,
      handler: 'handler',
      projectRoot,
      depsLockFilePath: `${projectRoot}package-lock.json`,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      tracing: lambda.Tracing.ACTIVE,
      timeout: Duration.seconds(props.spec.timeoutSeconds),
      memorySize: props.spec.memoryMb,
      logGroup,
      role,
      environment: { ...functionEnvironment },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        minify: true,
        sourceMap: true,
        mainFields: ['module', 'main'],
        // ESM output has no `require`; CommonJS dependencies that call it get one.
        banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
        // Bundle the AWS SDK too: the functions run the SDK version the tests ran, not
        // whatever version the Lambda runtime happens to ship this month.
        externalModules: [],
        forceDockerBundling: false,
      },
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime the project targets and tests (package.json engines, TypeScript type stripping, the embedded emulators); move all functions to a newer runtime together.',
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level permissions (the only statement with Resource *).',
    });
  }
}
