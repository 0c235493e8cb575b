/**
 * Configuration, read from the environment once per section and checked with zod.
 * The function modules and the adapters of other services than DynamoDB ask for the
 * section they need at module scope, so a Lambda that lacks a variable it uses fails at
 * cold start with a message naming that variable; the stores' table (`defaultTable()`)
 * is read on its first use, with the same message.
 */
import { z } from 'zod';

const booleanFlag = z
  .enum(['true', 'false', '1', '0', ''])
  .optional()
  .transform((v) => v === 'true' || v === '1');

function section<T extends z.ZodRawShape>(name: string, shape: T): () => z.infer<z.ZodObject<T>> {
  let cached: z.infer<z.ZodObject<T>> | undefined;
  return () => {
    if (cached) return cached;
    const parsed = z.object(shape).safeParse(process.env);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      throw new Error(`Invalid ${name} configuration: ${problems}`);
    }
    cached = parsed.data;
    return cached;
  };
}

/** DynamoDB table holding every item of the system. */
export const tableConfig = section('table', {
  TABLE_NAME: z.string().min(1),
  RECIPIENT_SHARDS: z.coerce.number().int().min(1).max(256).default(16),
});

/** S3 bucket for uploads and rejection reports. */
export const bucketConfig = section('bucket', {
  BUCKET_NAME: z.string().min(1),
  /** Path-style addressing, for emulators reached by IP address. */
  S3_FORCE_PATH_STYLE: booleanFlag,
});

/** SQS delivery queue. */
export const queueConfig = section('queue', {
  DELIVERY_QUEUE_URL: z.url(),
});

/** Limits and waits of the upload API. */
export const uploadConfig = section('upload', {
  DIRECT_UPLOAD_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(4 * 1024 * 1024),
  PRESIGNED_UPLOAD_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(50 * 1024 * 1024),
  UPLOAD_WAIT_SECONDS: z.coerce.number().min(0).max(28).default(20),
  /** Validity of presigned URLs (upload and rejections report); S3 allows at most 7 days. */
  PRESIGNED_URL_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(604_800)
    .default(15 * 60),
});

/** The importer's hold on an upload (shared/store/uploads.ts). */
export const importConfig = section('import', {
  /**
   * How long a claim on an upload holds without a progress write: a retry of a crashed
   * importer takes the upload over once it has run out (tests shorten it).
   */
  IMPORT_LEASE_SECONDS: z.coerce.number().int().min(1).max(900).default(60),
});

/** An unset and an empty variable both mean "not given". */
const optionalVariable = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

/** The delivery channel of the deliver consumer (docs/delivery.md). */
export const deliveryConfig = section('delivery', {
  /**
   * `outbox` (a JSON-lines file; the default, for local runs), `webhook` (POSTs to
   * `WEBHOOK_URL`) or `sns` (publishes to `SNS_TOPIC_ARN`; the stack's default on AWS).
   */
  DELIVERY_CHANNEL: z.enum(['outbox', 'webhook', 'sns']).default('outbox'),
  /** The topic the SNS channel publishes each message to; required with `DELIVERY_CHANNEL=sns`. */
  SNS_TOPIC_ARN: optionalVariable(
    z
      .string()
      .regex(
        /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/,
        'must be the ARN of a standard SNS topic (arn:aws:sns:<region>:<account>:<name>)',
      ),
  ),
  /** The outbox file, relative to the working directory (on Lambda, use /tmp/…). */
  OUTBOX_PATH: z.string().min(1).default('.data/outbox.jsonl'),
  /** Where the webhook channel POSTs; required with `DELIVERY_CHANNEL=webhook`. */
  WEBHOOK_URL: optionalVariable(z.url({ protocol: /^https?$/ })),
  /** Most messages per webhook request (the webhook channel's `maxBatchSize`). */
  WEBHOOK_BATCH_SIZE: z.coerce.number().int().min(1).max(100).default(100),
  /**
   * ARN of the Secrets Manager secret holding the webhook's signing secret (read with a
   * five-minute cache, shared/adapters/default-webhook-secret.ts); no signature without it.
   */
  WEBHOOK_SECRET_ARN: optionalVariable(
    z
      .string()
      .regex(
        /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/,
        'must be the ARN of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<suffix>)',
      ),
  ),
  /**
   * The plain-text secret this variable once held is no longer read. Still set, it fails
   * the cold start rather than let deliveries silently go unsigned.
   */
  WEBHOOK_SECRET: optionalVariable(
    z.never({
      error:
        'no longer read: put the signing secret in Secrets Manager, set WEBHOOK_SECRET_ARN to its ARN and unset WEBHOOK_SECRET',
    }),
  ),
  /** Per-attempt timeout, response included. */
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  /** Tries per request, the first included. */
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(3),
  /** Backoff base and cap (exponential, full jitter). */
  WEBHOOK_BASE_DELAY_MS: z.coerce.number().int().min(0).default(200),
  WEBHOOK_MAX_DELAY_MS: z.coerce.number().int().min(0).default(2_000),
  /** Longest Retry-After waited for in process; a longer one hands the batch back to the queue. */
  WEBHOOK_MAX_RETRY_AFTER_MS: z.coerce.number().int().min(0).default(5_000),
});

/**
 * The pace of the deployment's default channel, read by the send function (chunk size),
 * the consumer (its tokens) and the API (the ETA, the destination view); none required.
 */
export const paceConfig = section('pace', {
  /**
   * Messages per second through the deployment's default channel, for every app without a
   * destination of its own together (one token bucket); unset: no limit (docs/delivery.md, "Pacing").
   */
  DELIVERY_RATE_PER_SECOND: optionalVariable(z.coerce.number().int().min(1).max(10_000)),
});

/** The KMS key of apps' signing secrets (shared/adapters/secret-cipher.ts). */
export const secretsConfig = section('secrets', {
  /**
   * Key id, key ARN or alias (`alias/csv-campaigns-secrets` locally) of the symmetric KMS
   * key that encrypts each app's signing secret, bound to the app by its encryption context.
   */
  SECRETS_KEY_ID: z.string().min(1),
});

/** The send function, started by the send and cancel APIs and by one-call sends. */
export const sendConfig = section('send', {
  /** ARN (or name) of the send function. */
  SEND_FUNCTION_ARN: z.string().min(1),
});

/** EventBridge Scheduler, for campaigns sent at a later time. */
export const schedulerConfig = section('scheduler', {
  /** The schedules' target: the send function. */
  SEND_FUNCTION_ARN: z.string().min(1),
  /** Scheduler group holding the one-time `campaign-<id>` schedules. */
  SCHEDULE_GROUP_NAME: z.string().min(1).default('default'),
  /** Role EventBridge Scheduler assumes to invoke the send function. */
  SCHEDULER_ROLE_ARN: z.string().min(1),
  /**
   * When the backstop of a send or a cancel starts the send function again (docs/delivery.md,
   * "Nothing left stuck"): long after the asynchronous invoke it stands behind has started.
   */
  SEND_RESUME_AFTER_SECONDS: z.coerce.number().int().min(1).max(86_400).default(300),
});

/** The deliver consumer's retry timing (docs/delivery.md, Sending). */
export const retryConfig = section('retry', {
  /** A failed message comes back after base × 2^(receives − 1) seconds (0: at once). */
  DELIVERY_RETRY_BASE_SECONDS: z.coerce.number().int().min(0).default(10),
  /** Cap of that wait; SQS allows at most 12 hours. */
  DELIVERY_RETRY_MAX_SECONDS: z.coerce.number().int().min(0).max(43_200).default(900),
});

/** The send function's reading of recipients (docs/delivery.md, Sending). */
export const dispatchConfig = section('dispatch', {
  /** Recipients read per page; a page is one checkpoint (DynamoDB also caps a page at 1 MB). */
  DISPATCH_PAGE_SIZE: z.coerce.number().int().min(1).max(10_000).default(1000),
  /** Shards read and sent at once. */
  DISPATCH_SHARD_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
  /**
   * Recipients per delivery chunk: one claim and one channel call each. Set it to your
   * channel's batch size; a channel that takes fewer gets a chunk in several calls.
   */
  DISPATCH_CHUNK_SIZE: z.coerce.number().int().min(1).max(100).default(100),
  /**
   * Also rewrite each dispatched recipient from `pending` to `queued` (one conditional
   * write per recipient): exact per-recipient status, at the cost of those writes.
   */
  DISPATCH_MARK_QUEUED: booleanFlag,
});

/** Apps' destinations (docs/delivery.md, "Destinations"). */
export const destinationConfig = section('destination', {
  /**
   * Allows `http://` and addresses on loopback (127.0.0.0/8, ::1) as destinations: the
   * local runtime sets it, so receivers on this machine work. Never set on AWS.
   */
  DESTINATION_ALLOW_LOOPBACK: booleanFlag,
  /** How long the deliver consumer reuses an app's destination as read (a change takes effect within it). */
  DESTINATION_CACHE_MS: z.coerce.number().int().min(0).max(300_000).default(5_000),
  /** Limit of the whole `POST /api/destination/test` exchange. */
  DESTINATION_TEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(20_000).default(5_000),
});

/**
 * Recipient exports (docs/api.md, "Exporting recipients"): the bound of an inline
 * `200 text/csv` answer, past which the API starts an export job (`202`), and the part
 * size of the job's multipart upload. Tests lower the bounds.
 */
export const exportConfig = section('export', {
  /**
   * Most bytes of an inline answer, counted as Lambda counts them (the body escaped in
   * its JSON response): at most 5.5 MiB, under Lambda's 6 MB and API Gateway's 10 MB.
   */
  EXPORT_INLINE_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .max(5.5 * 1024 * 1024)
    .default(5 * 1024 * 1024),
  /** Most data rows of an inline answer (so it is read well within API Gateway's 29 s). */
  EXPORT_INLINE_MAX_ROWS: z.coerce.number().int().min(1).default(10_000),
  /** Bytes per part of an export job's multipart upload (S3: at least 5 MiB, but the last). */
  EXPORT_PART_BYTES: z.coerce
    .number()
    .int()
    .min(5 * 1024 * 1024)
    .default(8 * 1024 * 1024),
  /** Validity of an export's presigned download URL. */
  EXPORT_URL_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
});

/** The export function the exports API starts (`EXPORT_FUNCTION_ARN`). */
export const exportFunctionConfig = section('export function', {
  EXPORT_FUNCTION_ARN: z.string().min(1),
});
