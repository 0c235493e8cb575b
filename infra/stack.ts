/**
 * The whole system in one stack, one construct per concern. The stack wires them:
 * each function's grants and the environment naming the granted resource, together.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { uploadsBucket as bucketSpec } from '#shared/resources.ts';
import { Alarms } from './constructs/alarms.ts';
import { Api } from './constructs/api.ts';
import { DefaultDestination } from './constructs/default-destination.ts';
import { Delivery } from './constructs/delivery.ts';
import { CampaignFunction } from './constructs/function.ts';
import {
  useBucket,
  useDeliveryQueue,
  useExportFunction,
  useSendFunction,
  useTable,
} from './constructs/grants.ts';
import { Import } from './constructs/import.ts';
import { Scheduling } from './constructs/scheduling.ts';
import { Secrets } from './constructs/secrets.ts';
import { Storage } from './constructs/storage.ts';
import { functions } from './functions.ts';
import type { StageConfig } from './stages.ts';

export interface CsvCampaignsStackProps extends StackProps {
  stage: StageConfig;
}

export class CsvCampaignsStack extends Stack {
  readonly storage: Storage;
  readonly api: Api;
  readonly importer: Import;
  readonly delivery: Delivery;
  readonly scheduling: Scheduling;
  readonly secrets: Secrets;
  readonly defaultDestination: DefaultDestination;
  readonly alarms: Alarms;
  /** Writes recipient exports past the inline bound to `exports/` (docs/api.md). */
  readonly exportFunction: CampaignFunction;

  constructor(scope: Construct, id: string, props: CsvCampaignsStackProps) {
    super(scope, id, props);
    const { stage } = props;
    const functionDefaults = { logRetention: stage.logRetention, logRemovalPolicy: stage.removalPolicy };

    this.storage = new Storage(this, 'Storage', {
      removalPolicy: stage.removalPolicy,
      deletionProtection: stage.deletionProtection,
      uploadExpiryDays: stage.uploadExpiryDays,
      reportExpiryDays: stage.reportExpiryDays,
      exportExpiryDays: bucketSpec.exportExpiryDays,
    });
    const { table, bucket } = this.storage;
    this.secrets = new Secrets(this, 'Secrets', { removalPolicy: stage.removalPolicy });

    this.delivery = new Delivery(this, 'Delivery', {
      ...functionDefaults,
      maxConcurrency: stage.deliveryConcurrency,
    });
    const { queue, sendFunction, deliverFunction } = this.delivery;

    this.importer = new Import(this, 'Import', { ...functionDefaults, bucket });
    this.scheduling = new Scheduling(this, 'Scheduling', {
      sendFunction,
      removalPolicy: stage.removalPolicy,
    });
    this.api = new Api(this, 'Api', {
      ...functionDefaults,
      stageName: stage.name,
      throttlingRateLimit: stage.throttling.rateLimit,
      throttlingBurstLimit: stage.throttling.burstLimit,
      accessLogRemovalPolicy: stage.removalPolicy,
    });
    const { templates, campaigns, uploads, notifications, destination, exports } = this.api.functions;
    const importFunction = this.importer.importFunction;

    useTable(templates, table, 'readWrite');

    useTable(campaigns, table, 'readWrite');
    useSendFunction(campaigns, sendFunction);
    this.scheduling.useScheduling(campaigns);

    useTable(uploads, table, 'readWrite');
    useBucket(uploads, bucket, { write: [bucketSpec.uploadsPrefix], read: [bucketSpec.reportsPrefix] });

    useTable(notifications, table, 'readWrite');
    // A one-call send is dispatched by the send function, like a campaign (and has its backstop schedule).
    useSendFunction(notifications, sendFunction);
    this.scheduling.useScheduling(notifications, ['scheduler:CreateSchedule']);

    // Stores each app's destination with its signing secret encrypted (and reads it back to test it).
    useTable(destination, table, 'readWrite');
    this.secrets.useForAppSecrets(destination, 'encryptDecrypt');

    // Recipient exports: the API answers small ones inline, starts the export function for
    // the others, and presigns the download of a ready one; the function writes the object.
    this.exportFunction = new CampaignFunction(this, 'ExportRecipients', {
      ...functionDefaults,
      spec: functions.exportRecipients,
    });
    useTable(exports, table, 'readWrite');
    useExportFunction(exports, this.exportFunction);
    useBucket(exports, bucket, { read: [bucketSpec.exportsPrefix] });
    useTable(this.exportFunction, table, 'readWrite');
    useBucket(this.exportFunction, bucket, { multipartWrite: [bucketSpec.exportsPrefix] });

    useTable(importFunction, table, 'readWrite');
    useBucket(importFunction, bucket, {
      read: [bucketSpec.uploadsPrefix],
      write: [bucketSpec.reportsPrefix],
    });

    useTable(sendFunction, table, 'readWrite');
    useDeliveryQueue(sendFunction, queue);

    useTable(deliverFunction, table, 'readWrite');
    // Receive, delete and change visibility come with the event source mapping; the consumer
    // names the queue itself to delay a failed message's retry (ChangeMessageVisibility) and
    // to put back, delayed, the chunks a paced destination has no tokens for yet (SendMessage).
    useDeliveryQueue(deliverFunction, queue);
    // The default channel's pace (`-c defaultRatePerSecond=…`): dispatch cuts chunks to its
    // burst, the consumer takes its tokens, the campaigns API's ETA and the destination view show it.
    if (stage.defaultRatePerSecond !== undefined) {
      for (const fn of [sendFunction, deliverFunction, campaigns, destination]) {
        fn.addEnvironment('DELIVERY_RATE_PER_SECOND', String(stage.defaultRatePerSecond));
      }
    }
    // Decrypts the signing secret of each app with a webhook of its own; never encrypts.
    this.secrets.useForAppSecrets(deliverFunction, 'decrypt');
    this.defaultDestination = new DefaultDestination(this, 'DefaultDestination', {
      kind: stage.defaultDestination,
      webhookUrl: stage.webhookUrl,
      secrets: this.secrets,
      removalPolicy: stage.removalPolicy,
    });
    this.defaultDestination.useBy(deliverFunction);

    this.alarms = new Alarms(this, 'Alarms', {
      deadLetterQueue: this.delivery.deadLetterQueue,
      importFunction,
      sendFunction,
      restApi: this.api.restApi,
    });

    new CfnOutput(this, 'ApiUrl', {
      description: 'Base URL of the HTTP API (paths start /api/…)',
      value: `${this.api.restApi.url}api`,
    });
    new CfnOutput(this, 'BucketName', { description: 'Uploads bucket', value: bucket.bucketName });
    new CfnOutput(this, 'DeliveryQueueUrl', { description: 'Delivery queue', value: queue.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      description: 'Delivery dead-letter queue',
      value: this.delivery.deadLetterQueue.queueUrl,
    });
    new CfnOutput(this, 'TableName', { description: 'DynamoDB table (TABLE_NAME)', value: table.tableName });
    const { topic, webhookSecret } = this.defaultDestination;
    if (topic) {
      new CfnOutput(this, 'DefaultTopicArn', {
        description:
          'SNS topic of apps without a destination of their own: subscribe what reaches your users',
        value: topic.topicArn,
      });
    }
    if (webhookSecret) {
      new CfnOutput(this, 'DefaultWebhookSecretArn', {
        description:
          "Secrets Manager secret the default webhook's requests are signed with: its receiver reads it (GetSecretValue) to check signatures",
        value: webhookSecret.secretArn,
      });
    }
  }
}
