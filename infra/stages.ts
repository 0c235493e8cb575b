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
  /**
   * Where messages of apps without a destination of their own go (`-c defaultDestination=…`):
   * `sns`, a topic the stack creates (the default); `webhook`, POSTed to `webhookUrl` and
   * signed with a secret the stack creates; `outbox`, a file in the deliver function's
   * `/tmp` that nobody reads (a demo stack that reaches no one).
   */
  defaultDestination: DefaultDestination;
  /** The default webhook's URL, https (`-c webhookUrl=https://…`); only with `defaultDestination: 'webhook'`. */
  webhookUrl?: string;
  /**
   * Messages per second through the default destination, all apps on it together
   * (`-c defaultRatePerSecond=50`, 1-10,000); none when not given.
   */
  defaultRatePerSecond?: number;
  /** Days uploaded CSV files are kept under `uploads/`. */
  uploadExpiryDays: number;
  /** Days rejection reports are kept under `reports/`. */
  reportExpiryDays: number;
}

/** The default destinations a stack can have. */
export const defaultDestinations = ['sns', 'webhook', 'outbox'] as const;
export type DefaultDestination = (typeof defaultDestinations)[number];

/** What CDK context may set (`-c key=value`; every value a string there). */
export interface StageOverrides
  extends Partial<Omit<StageConfig, 'name' | 'defaultDestination' | 'defaultRatePerSecond'>> {
  defaultDestination?: string;
  defaultRatePerSecond?: string;
}

const dev: Omit<StageConfig, 'name' | 'defaultDestination'> = {
  removalPolicy: RemovalPolicy.DESTROY,
  deletionProtection: false,
  logRetention: RetentionDays.ONE_WEEK,
  deliveryConcurrency: 5,
  throttling: { rateLimit: 50, burstLimit: 100 },
  uploadExpiryDays: 7,
  reportExpiryDays: 30,
};

const prod: Omit<StageConfig, 'name' | 'defaultDestination'> = {
  removalPolicy: RemovalPolicy.RETAIN,
  deletionProtection: true,
  logRetention: RetentionDays.THREE_MONTHS,
  deliveryConcurrency: 50,
  throttling: { rateLimit: 500, burstLimit: 1000 },
  uploadExpiryDays: 7,
  reportExpiryDays: 30,
};

/**
 * The settings of a stage by name; `overrides` come from CDK context (`-c webhookUrl=…`).
 * Throws, before anything is synthesized, on a stage name CloudFormation cannot use and
 * on a default destination that cannot work.
 */
export function stageConfig(name: string, overrides: StageOverrides = {}): StageConfig {
  if (!/^[A-Za-z][A-Za-z0-9-]{0,31}$/.test(name)) {
    throw new Error(`Stage '${name}' must start with a letter and hold only letters, digits and '-'.`);
  }
  const base = name === 'prod' ? prod : dev;
  const {
    defaultDestination: chosen,
    defaultRatePerSecond: rate,
    ...rest
  } = Object.fromEntries(
    Object.entries(overrides).filter(([, v]) => v !== undefined && v !== ''),
  ) as StageOverrides;
  const { webhookUrl } = rest;
  // A webhook URL alone (how earlier versions chose the webhook) still means the webhook.
  const defaultDestination = chosen ?? (webhookUrl === undefined ? 'sns' : 'webhook');
  if (!defaultDestinations.includes(defaultDestination as DefaultDestination)) {
    throw new Error(
      `-c defaultDestination=${defaultDestination}: must be one of ${defaultDestinations.join(', ')} (sns when not given).`,
    );
  }
  if (defaultDestination === 'webhook') checkWebhookUrl(webhookUrl);
  else if (webhookUrl !== undefined) {
    throw new Error(
      `-c webhookUrl is used only with -c defaultDestination=webhook, not ${defaultDestination}: drop one of the two.`,
    );
  }
  return {
    ...base,
    ...rest,
    defaultDestination: defaultDestination as DefaultDestination,
    ...(rate === undefined ? {} : { defaultRatePerSecond: ratePerSecondOf(rate) }),
    name,
  };
}

/** `-c defaultRatePerSecond=…`: a whole number of messages per second, 1-10,000. */
function ratePerSecondOf(value: string): number {
  const rate = Number(value);
  if (!Number.isInteger(rate) || rate < 1 || rate > 10_000) {
    throw new Error(
      `-c defaultRatePerSecond=${value}: must be a whole number of messages per second from 1 to 10000 (leave it out for no limit).`,
    );
  }
  return rate;
}

/** The default webhook gets users' messages: an https URL, nothing else. */
function checkWebhookUrl(webhookUrl: string | undefined): void {
  if (webhookUrl === undefined) {
    throw new Error(
      "-c defaultDestination=webhook needs the receiver's URL: add -c webhookUrl=https://… (or choose -c defaultDestination=sns).",
    );
  }
  let url: URL;
  try {
    url = new URL(webhookUrl);
  } catch {
    throw new Error(`-c webhookUrl=${webhookUrl} is not a URL: give the receiver's https://… URL.`);
  }
  if (url.protocol !== 'https:') {
    throw new Error(
      `-c webhookUrl must be an https:// URL (deliveries carry users' messages and a signature), got ${url.protocol}//${url.host}.`,
    );
  }
}
