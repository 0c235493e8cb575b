/**
 * The one description of the system's stateful resources. The CDK stack and the
 * local runtime both build from it, and the handlers read the parts they run by (key
 * prefixes, receive counts, the consumer's timeout), so a key name or queue setting lives
 * here only, below both.
 */

/** DynamoDB single table: apps, templates, campaigns, uploads and recipients. */
export const table = {
  /** Name used by the local runtime; CloudFormation names the deployed table. */
  localName: 'csv-campaigns',
  partitionKey: 'pk',
  sortKey: 'sk',
  /** One sparse global index for listings (campaigns by status, recipients by status). */
  indexes: [{ name: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' }],
  /** Epoch seconds; items with it (idempotency markers, finished schedules) expire. */
  ttlAttribute: 'expiresAt',
} as const;

/** S3 bucket for uploaded CSV files and rejection reports. */
export const uploadsBucket = {
  localName: 'csv-campaigns-uploads',
  /** `uploads/<appId>/<campaignId>/<uploadId>.csv`: objects created here start an import. */
  uploadsPrefix: 'uploads/',
  /** `reports/<appId>/<campaignId>/<uploadId>-rejections.csv`. */
  reportsPrefix: 'reports/',
  /** `exports/<appId>/<campaignId>/<exportId>.csv`: recipient exports, downloaded by presigned URL only. */
  exportsPrefix: 'exports/',
  /** Days an export is kept (the `exports/` lifecycle rule; its record's TTL is the same). */
  exportExpiryDays: 2,
} as const;

/** SQS queue carrying batches of recipients to the delivery consumers. */
export const deliveryQueue = {
  localName: 'csv-campaigns-delivery',
  /** At least six times the consumer's timeout, as AWS advises for Lambda event sources. */
  visibilityTimeoutSeconds: 540,
  /**
   * The deliver function's timeout. It stops claiming chunks 30 s before the end with the
   * webhook's default timings (a webhook call with every retry, then its outcome, must
   * finish: `shared/delivery/time-budget.ts`), so 90 s leaves 60 s of delivery per batch.
   */
  consumerTimeoutSeconds: 90,
  /** Receives before a message moves to the dead-letter queue. */
  maxReceiveCount: 5,
  retentionSeconds: 4 * 24 * 3600,
  deadLetter: {
    localName: 'csv-campaigns-delivery-dlq',
    retentionSeconds: 14 * 24 * 3600,
  },
} as const;

/** The KMS key of apps' signing secrets (`SECRETS_KEY_ID`). */
export const secretsKey = {
  /** Alias of the key the local runtime provisions; the stack gives its functions the key's ARN. */
  localAlias: 'alias/csv-campaigns-secrets',
  description:
    "Encrypts each app's webhook signing secret, bound to the app by the encryption context { appId }",
} as const;

/** The default webhook's signing secret, in Secrets Manager (`WEBHOOK_SECRET_ARN`). */
export const defaultWebhookSecret = {
  /** Name of the secret the local runtime provisions. */
  localName: 'csv-campaigns/default-webhook',
} as const;
