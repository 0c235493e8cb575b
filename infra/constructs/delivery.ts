/**
 * Delivery: the send function puts batches of recipients on the delivery queue; the
 * deliver function consumes them, at most `maxConcurrency` at a time (the delivery rate
 * limit), reporting partial batch failures; poison messages land in the dead-letter queue.
 */
import { Duration } from 'aws-cdk-lib';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { deliveryQueue as queueSpec } from '#shared/resources.ts';
import { functions } from '../functions.ts';
import { CampaignFunction, type FunctionDefaults } from './function.ts';

export interface DeliveryProps extends FunctionDefaults {
  /** Concurrent deliver functions the queue may drive (2-1000): the delivery rate limit. */
  maxConcurrency: number;
}

/** Messages per deliver invocation (the SQS maximum without a batching window). */
export const deliveryBatchSize = 10;

/** AWS advises a queue visibility timeout of at least six times its Lambda consumer's timeout. */
export function checkVisibilityTimeout(
  visibilityTimeoutSeconds: number,
  consumerTimeoutSeconds: number,
): void {
  if (visibilityTimeoutSeconds < 6 * consumerTimeoutSeconds) {
    throw new Error(
      `Delivery queue visibility timeout (${visibilityTimeoutSeconds} s) must be at least 6x the deliver function's timeout (${consumerTimeoutSeconds} s).`,
    );
  }
}

export class Delivery extends Construct {
  readonly sendFunction: CampaignFunction;
  readonly deliverFunction: CampaignFunction;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: DeliveryProps) {
    super(scope, id);
    const consumer = functions.deliverBatch;
    checkVisibilityTimeout(queueSpec.visibilityTimeoutSeconds, consumer.timeoutSeconds);
    checkVisibilityTimeout(queueSpec.visibilityTimeoutSeconds, queueSpec.consumerTimeoutSeconds);

    const common = { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true } satisfies sqs.QueueProps;
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      ...common,
      retentionPeriod: Duration.seconds(queueSpec.deadLetter.retentionSeconds),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      ...common,
      visibilityTimeout: Duration.seconds(queueSpec.visibilityTimeoutSeconds),
      retentionPeriod: Duration.seconds(queueSpec.retentionSeconds),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: queueSpec.maxReceiveCount },
    });

    const defaults = { logRetention: props.logRetention, logRemovalPolicy: props.logRemovalPolicy };
    this.sendFunction = new CampaignFunction(this, 'SendCampaign', {
      ...defaults,
      spec: functions.sendCampaign,
    });
    this.deliverFunction = new CampaignFunction(this, 'DeliverBatch', { ...defaults, spec: consumer });
    this.deliverFunction.addEventSource(
      new sources.SqsEventSource(this.queue, {
        batchSize: deliveryBatchSize,
        reportBatchItemFailures: true,
        maxConcurrency: props.maxConcurrency,
      }),
    );
  }
}
