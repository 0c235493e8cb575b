/**
 * The SQS client, created once per process and traced (a no-op outside Lambda), with the
 * delivery queue it serves.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { queueConfig } from '#shared/config.ts';
import { tracer } from '#shared/observability.ts';

/** URL of the delivery queue. */
export const deliveryQueueUrl = queueConfig().DELIVERY_QUEUE_URL;

export const sqs = tracer.captureAWSv3Client(new SQSClient({}));
