/**
 * The AWS services the system uses, on this machine. Without `AWS_ENDPOINT_URL` it
 * starts real-protocol emulators (DynamoDB Local; fauxqs for S3 and SQS) on free
 * loopback ports; with it (LocalStack) it uses that endpoint. Either way it creates
 * the resources of `shared/resources.ts` that are missing, and puts an S3
 * notification proxy in front of S3 so that new uploads reach the importer.
 */
import type { S3Event } from 'aws-lambda';
import { uploadsBucket } from '#shared/resources.ts';
import { startDynamoDbLocal } from './dynamodb-local.ts';
import { startFauxqsProcess } from './fauxqs.ts';
import { provision } from './provision.ts';
import { startS3NotificationProxy } from './s3-notifications.ts';

export interface EmbeddedAws {
  /** `emulators` when started here, `endpoint` when `AWS_ENDPOINT_URL` named one. */
  readonly mode: 'emulators' | 'endpoint';
  /** Environment for code that uses the resources: endpoints, names, region, credentials. */
  readonly env: Record<string, string>;
  /** Process groups of the emulators started here (none against an endpoint). */
  readonly processGroups: number[];
  /** Milliseconds from the call to resources ready. */
  readonly startupMs: number;
  /** Sets the receiver of `ObjectCreated` events under the uploads prefix. */
  onObjectCreated(listener: (event: S3Event) => void): void;
  /** Stops every emulator and proxy that was started. Safe to call twice. */
  stop(): Promise<void>;
}

export interface EmbeddedAwsOptions {
  /** Heap of DynamoDB Local's JVM in MiB. */
  dynamoDbHeapMb?: number;
}

export async function startEmbeddedAws(options: EmbeddedAwsOptions = {}): Promise<EmbeddedAws> {
  const started = performance.now();
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const external = process.env.AWS_ENDPOINT_URL;
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    const pending = stops.splice(0).reverse();
    for (const s of pending) await s().catch(() => undefined);
  };

  try {
    let dynamodbEndpoint: string;
    let s3Endpoint: string;
    let sqsEndpoint: string;
    const credentials: Record<string, string> = {};
    const processGroups: number[] = [];
    if (external) {
      dynamodbEndpoint = s3Endpoint = sqsEndpoint = external;
    } else {
      // The emulators accept any credentials; set some so the SDK does not go looking.
      credentials.AWS_ACCESS_KEY_ID = 'local';
      credentials.AWS_SECRET_ACCESS_KEY = 'local';
      const heapMb = options.dynamoDbHeapMb ?? (Number(process.env.DYNAMODB_LOCAL_HEAP_MB) || undefined);
      const [dynamo, fauxqs] = await Promise.all([startDynamoDbLocal({ heapMb }), startFauxqsProcess()]);
      stops.push(dynamo.stop, fauxqs.stop);
      processGroups.push(dynamo.processGroup, fauxqs.processGroup);
      dynamodbEndpoint = dynamo.endpoint;
      s3Endpoint = sqsEndpoint = fauxqs.endpoint;
    }
    const saved = { ...process.env };
    Object.assign(process.env, credentials);
    let resources: Awaited<ReturnType<typeof provision>>;
    try {
      resources = await provision({ dynamodb: dynamodbEndpoint, s3: s3Endpoint, sqs: sqsEndpoint }, region);
    } finally {
      for (const key of Object.keys(credentials)) {
        if (saved[key] === undefined) delete process.env[key];
      }
    }

    let listener: (event: S3Event) => void = () => undefined;
    const proxy = await startS3NotificationProxy({
      target: s3Endpoint,
      region,
      bucket: resources.bucketName,
      prefix: uploadsBucket.uploadsPrefix,
      onObjectCreated: (event) => listener(event),
      // The emulators accept any signature; S3 does not. (An external endpoint checks its own.)
      credentials: external
        ? undefined
        : {
            accessKeyId: credentials.AWS_ACCESS_KEY_ID ?? '',
            secretAccessKey: credentials.AWS_SECRET_ACCESS_KEY ?? '',
          },
    });
    stops.push(proxy.stop);

    const env: Record<string, string> = {
      AWS_REGION: region,
      ...credentials,
      AWS_ENDPOINT_URL_DYNAMODB: dynamodbEndpoint,
      AWS_ENDPOINT_URL_S3: proxy.endpoint,
      AWS_ENDPOINT_URL_SQS: sqsEndpoint,
      S3_FORCE_PATH_STYLE: 'true',
      TABLE_NAME: resources.tableName,
      BUCKET_NAME: resources.bucketName,
      DELIVERY_QUEUE_URL: resources.deliveryQueueUrl,
      DEAD_LETTER_QUEUE_URL: resources.deadLetterQueueUrl,
    };
    return {
      mode: external ? 'endpoint' : 'emulators',
      env,
      processGroups,
      startupMs: Math.round(performance.now() - started),
      onObjectCreated(next) {
        listener = next;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
