/**
 * The SQS client, created once per process, with the delivery queue it serves.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { queueConfig } from '#shared/config.ts';

/** URL of the delivery queue. */
export const deliveryQueueUrl = queueConfig().DELIVERY_QUEUE_URL;

export const sqs = new SQSClient({});
