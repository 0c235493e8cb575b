/**
 * The whole system on one machine: embedded AWS, the HTTP front in place of API
 * Gateway, and the event sources (S3 notifications, SQS polling, schedules) that call
 * the very handlers Lambda runs. `npm start` and the integration tests both use it.
 *
 * KMS and Secrets Manager come from local emulators (in memory, like DynamoDB Local),
 * or from LocalStack when `AWS_ENDPOINT_URL` names it; either way the runtime provisions
 * the secrets key (`SECRETS_KEY_ID`) and the default webhook's secret (`WEBHOOK_SECRET_ARN`).
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { documentClient, type Table } from '#shared/adapters/dynamodb-table.ts';
import { bucketConfig, tableConfig } from '#shared/config.ts';
import { createAppsStore } from '#shared/store/apps.ts';
import { type FunctionName, functions } from '../functions.ts';
import { type ApiFunctionName, apiFunctions } from '../routes.ts';
import { type AsyncInvoker, asyncInvoker, type EventHandler } from './async-invoker.ts';
import { dashboardFallback } from './dashboard.ts';
import { type EmbeddedAws, startEmbeddedAws } from './embedded-aws.ts';
import { type ApiHandler, type HttpFront, startHttpFront } from './http-front.ts';
import { type KmsEmulator, startKmsEmulator } from './kms-emulator.ts';
import { type LambdaEmulator, startLambdaEmulator } from './lambda-emulator.ts';
import { ensureDefaultWebhookSecret, ensureSecretsKey } from './provision.ts';
import { type SchedulerEmulator, startSchedulerEmulator } from './scheduler-emulator.ts';
import { type SecretsManagerEmulator, startSecretsManagerEmulator } from './secrets-manager-emulator.ts';
import { type SqsEventSource, startSqsEventSource } from './sqs-event-source.ts';

export interface LocalRuntime {
  readonly url: string;
  readonly aws: EmbeddedAws;
  readonly appId: string;
  readonly apiKey: string;
  /**
   * The table the handlers use, through a client of its own on the handlers' endpoint:
   * tests build stores over it (`createAppsStore(runtime.table)` …) with static imports.
   */
  readonly table: Table;
  /**
   * The uploads bucket the handlers use, through a client of its own on the handlers'
   * endpoint: tests read and write its objects with static imports.
   */
  readonly bucket: { readonly client: S3Client; readonly name: string };
  /** The KMS and Secrets Manager endpoints the handlers use (the emulators', or LocalStack's). */
  readonly secrets: { kmsEndpoint: string | undefined; secretsManagerEndpoint: string | undefined };
  /** Resolves when no asynchronous invocation (import, scheduled send) is running or retrying. */
  idle(): Promise<void>;
  /** Names of the schedules the local scheduler holds, as `group/name` (fired ones delete themselves). */
  scheduleNames(): string[];
  /** Starts the delivery queue's pollers if they are not running (see `deferDeliveries`). */
  startDeliveries(): void;
  /**
   * Stops the delivery queue's pollers and lets each finish its receive in progress and
   * the batch it got, so no message is left in flight for whatever uses the queue next.
   */
  stopDeliveries(): Promise<void>;
  stop(): Promise<void>;
}

export interface LocalRuntimeOptions {
  /** HTTP port; 0 picks a free one. */
  port?: number;
  host?: string;
  /** Extra environment for the handlers (limits, waits), applied before they load. */
  env?: Record<string, string>;
  /** Delays before the two retries of a failed asynchronous invocation (Lambda: ~1 and ~2 minutes). */
  retryDelaysMs?: readonly number[];
  /** Pollers of the delivery queue at once (default `LOCAL_DELIVERY_CONCURRENCY`, else 4; 0: none). */
  deliveryConcurrency?: number;
  /**
   * Leaves the delivery queue's pollers stopped until `startDeliveries()`: a benchmark
   * puts a whole campaign on the queue first, then times the consumers alone.
   */
  deferDeliveries?: boolean;
  /**
   * The delivery consumer the queue's event source invokes; by default the handler of
   * `functions/deliver-batch.ts`. Tests pass one built with `createDeliverHandler`.
   */
  loadDeliverHandler?: () => Promise<EventHandler<SQSEvent>>;
  /**
   * Puts something between every handler and AWS (a fault-injecting proxy, in tests):
   * gets the emulators' environment once they run and returns the environment the
   * handlers load with. Stopped after the handlers, before the emulators.
   */
  wrapAws?: (env: Record<string, string>) => Promise<{ env: Record<string, string>; stop(): Promise<void> }>;
  /**
   * Sees each asynchronous invocation (S3 notification, scheduled or API-started send)
   * first; returning true means the caller runs it (crash tests run the handler in a
   * child process), and the runtime does not.
   */
  interceptInvoke?: (name: FunctionName, event: unknown, via: InvokeSource) => boolean;
}

/**
 * What started an asynchronous invocation: an S3 notification, a schedule, or a call of
 * Lambda's Invoke (the API's). An `interceptInvoke` that throws for `lambda` fails that
 * Invoke call with a 500, as a Lambda outage would.
 */
export type InvokeSource = 's3' | 'scheduler' | 'lambda';

/** Local ARN of a function, as the scheduler and the send API name it. */
export function localFunctionArn(name: FunctionName): string {
  return `arn:aws:lambda:${process.env.AWS_REGION ?? 'us-east-1'}:000000000000:function:${name}`;
}

/**
 * What the handlers get here in place of what the CDK stack and Lambda give the deployed
 * functions; the caller's environment wins.
 */
export const handlerDefaults: Readonly<Record<string, string>> = {
  POWERTOOLS_SERVICE_NAME: 'csv-campaigns',
  POWERTOOLS_METRICS_NAMESPACE: 'CsvCampaigns',
  // No CloudWatch here: keep metrics off, and logs to warnings.
  POWERTOOLS_METRICS_DISABLED: 'true',
  POWERTOOLS_LOG_LEVEL: 'WARN',
  // No X-Ray either. The Tracer is already off without AWS_EXECUTION_ENV (Lambda sets it):
  // the SDK clients are left as they are, the handler middleware does nothing, no daemon is
  // called and nothing is logged. But ECS tasks (AWS_ECS_FARGATE, AWS_ECS_EC2) and CloudShell
  // set AWS_EXECUTION_ENV too, and there the Tracer would be on with no Lambda segment,
  // logging an X-Ray error on every invocation: this keeps it off everywhere.
  POWERTOOLS_TRACE_ENABLED: 'false',
  POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
  POWERTOOLS_TRACER_CAPTURE_ERROR: 'false',
  // What Lambda sets for an on-demand function: Powertools reports a cold start (the
  // `cold_start` log key, the `ColdStart` metric) only then. The local runtime is one
  // process for all functions, so it reports one cold start, not one per function.
  AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
  // Receivers on this machine (http://127.0.0.1:…) may be an app's destination here, never on AWS.
  DESTINATION_ALLOW_LOOPBACK: 'true',
  LOCAL_APP_ID: 'local-app',
  LOCAL_API_KEY: 'local-api-key',
};

export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const aws = await startEmbeddedAws();
  let wrapped: Awaited<ReturnType<NonNullable<LocalRuntimeOptions['wrapAws']>>> | undefined;
  let front: HttpFront | undefined;
  let scheduler: SchedulerEmulator | undefined;
  let lambda: LambdaEmulator | undefined;
  let kms: KmsEmulator | undefined;
  let secretsManager: SecretsManagerEmulator | undefined;
  let deliveries: SqsEventSource | undefined;
  const invokers = new Map<FunctionName, AsyncInvoker<unknown>>();
  try {
    for (const [key, value] of Object.entries(handlerDefaults)) process.env[key] ??= value;
    wrapped = await options.wrapAws?.({ ...aws.env });
    Object.assign(process.env, wrapped?.env ?? aws.env);

    // Asynchronous invocations (S3 notifications, schedules) of the event functions.
    const invoker = (name: FunctionName): AsyncInvoker<unknown> => {
      let found = invokers.get(name);
      if (!found) {
        const spec = functions[name];
        found = asyncInvoker(
          () =>
            import(new URL(`../../${spec.entry}`, import.meta.url).href).then(
              (module: { handler: EventHandler<unknown> }) => module.handler,
            ),
          {
            functionName: name,
            timeoutSeconds: spec.timeoutSeconds,
            retryDelaysMs: options.retryDelaysMs,
            onFailure: (error, attempt) =>
              console.error(
                `${name}: asynchronous invocation failed (attempt ${attempt} of 3): ${String(error)}`,
              ),
          },
        );
        invokers.set(name, found);
      }
      return found;
    };
    const invoke = (name: FunctionName, event: unknown, via: InvokeSource) => {
      if (!options.interceptInvoke?.(name, event, via)) invoker(name).invoke(event);
    };
    aws.onObjectCreated((event) => invoke('importCsv', event, 's3'));
    const region = process.env.AWS_REGION ?? 'us-east-1';
    const functionNamed = (nameOrArn: string) =>
      (Object.keys(functions) as FunctionName[]).find(
        (n) => n === nameOrArn || localFunctionArn(n) === nameOrArn,
      );
    scheduler = await startSchedulerEmulator({
      region,
      invoke: (target) => {
        const name = functionNamed(target.Arn);
        if (!name) {
          console.error(`scheduler: no local function for target ${target.Arn}`);
          return;
        }
        invoke(name, JSON.parse(target.Input ?? '{}'), 'scheduler');
      },
    });
    lambda = await startLambdaEmulator({
      invokeAsync: (nameOrArn, payload) => {
        const name = functionNamed(nameOrArn);
        if (name) invoke(name, payload, 'lambda');
        return name !== undefined;
      },
    });
    // LocalStack has KMS and Secrets Manager of its own; only without it are they emulated here.
    if (aws.mode === 'emulators') {
      [kms, secretsManager] = await Promise.all([
        startKmsEmulator({ region }),
        startSecretsManagerEmulator({ region }),
      ]);
      Object.assign(process.env, {
        AWS_ENDPOINT_URL_KMS: kms.endpoint,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
      });
    }
    const [secretsKeyId, webhookSecretArn] = await Promise.all([
      ensureSecretsKey(new KMSClient({})),
      ensureDefaultWebhookSecret(new SecretsManagerClient({})),
    ]);
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_LAMBDA: lambda.endpoint,
      SECRETS_KEY_ID: secretsKeyId,
      // Only the webhook channel reads it (DELIVERY_CHANNEL=webhook signs with it).
      WEBHOOK_SECRET_ARN: webhookSecretArn,
      AWS_ENDPOINT_URL_SCHEDULER: scheduler.endpoint,
      SCHEDULE_GROUP_NAME: 'default',
      SCHEDULER_ROLE_ARN: 'arn:aws:iam::000000000000:role/csv-campaigns-scheduler',
      SEND_FUNCTION_ARN: localFunctionArn('sendCampaign'),
      EXPORT_FUNCTION_ARN: localFunctionArn('exportRecipients'),
    });
    Object.assign(process.env, options.env);

    const { TABLE_NAME, RECIPIENT_SHARDS } = tableConfig();
    const table: Table = {
      client: documentClient(),
      tableName: TABLE_NAME,
      recipientShards: RECIPIENT_SHARDS,
    };
    const { BUCKET_NAME, S3_FORCE_PATH_STYLE } = bucketConfig();
    const bucket = { client: new S3Client({ forcePathStyle: S3_FORCE_PATH_STYLE }), name: BUCKET_NAME };
    const { addApiKey } = createAppsStore(table);
    const appId = process.env.LOCAL_APP_ID as string;
    const apiKey = await addApiKey(appId, process.env.LOCAL_API_KEY as string);

    // The delivery queue's event source mapping: batches of 10, partial batch failures.
    const sqsClient = new SQSClient({});
    const queueUrl = process.env.DELIVERY_QUEUE_URL as string;
    const { Attributes } = await sqsClient.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    const deliverSpec = functions.deliverBatch;
    const startPollers = () =>
      startSqsEventSource(
        options.loadDeliverHandler ??
          (() =>
            import(new URL(`../../${deliverSpec.entry}`, import.meta.url).href).then(
              (module: { handler: EventHandler<SQSEvent> }) => module.handler,
            )),
        {
          client: sqsClient,
          queueUrl,
          queueArn: Attributes?.QueueArn ?? '',
          functionName: 'deliverBatch',
          timeoutSeconds: deliverSpec.timeoutSeconds,
          batchSize: 10,
          concurrency: options.deliveryConcurrency ?? (Number(process.env.LOCAL_DELIVERY_CONCURRENCY) || 4),
          onError: (error) => console.error(`deliverBatch: ${String(error)}`),
        },
      );
    if (!options.deferDeliveries) deliveries = startPollers();

    const loaded = new Map<ApiFunctionName, Promise<ApiHandler>>();
    const handlerFor = (name: ApiFunctionName): Promise<ApiHandler> => {
      let handler = loaded.get(name);
      if (!handler) {
        handler = import(new URL(`../../${apiFunctions[name]}`, import.meta.url).href).then(
          (module: { handler: ApiHandler }) => module.handler,
        );
        loaded.set(name, handler);
      }
      return handler;
    };
    // The campaign dashboard at `/`, its sign-in filled with the seeded app (docs/dashboard.md);
    // the key only on loopback, so HOST=0.0.0.0 does not hand it to the network.
    const { uploadConfig } = await import('#shared/config.ts');
    const loopback = ['127.0.0.1', 'localhost', '::1', undefined].includes(options.host);
    const fallback = dashboardFallback(() => ({
      appId,
      ...(loopback ? { apiKey } : {}),
      directUploadMaxBytes: uploadConfig().DIRECT_UPLOAD_MAX_BYTES,
    }));
    front = await startHttpFront({ port: options.port ?? 0, host: options.host, handlerFor, fallback });

    const started = front;
    const startedScheduler = scheduler;
    const startedLambda = lambda;
    const startedKms = kms;
    const startedSecretsManager = secretsManager;
    const startedWrapper = wrapped;
    return {
      url: started.url,
      aws,
      appId,
      apiKey,
      table,
      bucket,
      secrets: {
        kmsEndpoint: process.env.AWS_ENDPOINT_URL_KMS ?? process.env.AWS_ENDPOINT_URL,
        secretsManagerEndpoint: process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER ?? process.env.AWS_ENDPOINT_URL,
      },
      async idle() {
        for (const i of invokers.values()) await i.idle();
      },
      scheduleNames: () => startedScheduler.scheduleNames(),
      startDeliveries() {
        deliveries ??= startPollers();
      },
      async stopDeliveries() {
        const running = deliveries;
        deliveries = undefined;
        await running?.stop({ drain: true });
      },
      async stop() {
        await started.stop();
        await startedScheduler.stop();
        await startedLambda.stop();
        await deliveries?.stop();
        for (const i of invokers.values()) await i.stop();
        await startedWrapper?.stop();
        await startedKms?.stop();
        await startedSecretsManager?.stop();
        await aws.stop();
      },
    };
  } catch (error) {
    await front?.stop();
    await scheduler?.stop();
    await lambda?.stop();
    await deliveries?.stop();
    await wrapped?.stop();
    await kms?.stop();
    await secretsManager?.stop();
    await aws.stop();
    throw error;
  }
}
