/**
 * Deployment stages. `cdk deploy -c stage=<name>` picks one; `dev` and `prod` are
 * defined here and any other name gets the `dev` settings, so stages deploy side by side.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';

export interface StageConfig {
  /** Part of the stack name (`CsvCampaigns-<name>`) and the API Gateway stage name. */
  name: string;
  /** Table, buckets, log groups and schedule group on stack deletion. */
  removalPolicy: RemovalPolicy;
  /** DynamoDB deletion protection of the table. */
  deletionProtection: boolean;
  logRetention: RetentionDays;
  /** Deliver functions running at once (SQS event source maximum concurrency, 2-1000). */
  deliveryConcurrency: number;
  /** API Gateway stage throttling: steady requests per second and burst. */
  throttling: { rateLimit: number; burstLimit: number };
  /** Deliveries are POSTed here when set (`DELIVERY_CHANNEL=webhook`), else kept in the outbox. */
  webhookUrl?: string;
  /** Days uploaded CSV files are kept under `uploads/`. */
  uploadExpiryDays: number;
  /** Days rejection reports are kept under `reports/`. */
  reportExpiryDays: number;
}

const dev: Omit<StageConfig, 'name'> = {
  removalPolicy: RemovalPolicy.DESTROY,
  deletionProtection: false,
  logRetention: RetentionDays.ONE_WEEK,
  deliveryConcurrency: 5,
  throttling: { rateLimit: 50, burstLimit: 100 },
  uploadExpiryDays: 7,
  reportExpiryDays: 30,
};

const prod: Omit<StageConfig, 'name'> = {
  removalPolicy: RemovalPolicy.RETAIN,
  deletionProtection: true,
  logRetention: RetentionDays.THREE_MONTHS,
  deliveryConcurrency: 50,
  throttling: { rateLimit: 500, burstLimit: 1000 },
  uploadExpiryDays: 7,
  reportExpiryDays: 30,
};

/** The settings of a stage by name; `overrides` come from CDK context (`-c webhookUrl=…`). */
export function stageConfig(name: string, overrides: Partial<StageConfig> = {}): StageConfig {
  if (!/^[A-Za-z][A-Za-z0-9-]{0,31}$/.test(name)) {
    throw new Error(`Stage '${name}' must start with a letter and hold only letters, digits and '-'.`);
  }
  const base = name === 'prod' ? prod : dev;
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return { ...base, ...defined, name };
}
