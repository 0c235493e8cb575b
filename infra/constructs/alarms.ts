/**
 * The alarms an operator needs first: poison messages in the dead-letter queue, failing
 * imports, a failing send function, and server errors of the API. Each alarm is exposed so a stage can add actions.
 */
import { Duration } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface AlarmsProps {
  deadLetterQueue: sqs.IQueue;
  importFunction: lambda.IFunction;
  sendFunction: lambda.IFunction;
  restApi: apigateway.RestApi;
}

const period = Duration.minutes(5);

export class Alarms extends Construct {
  readonly deadLetterQueueDepth: cloudwatch.Alarm;
  readonly importErrors: cloudwatch.Alarm;
  readonly sendErrors: cloudwatch.Alarm;
  readonly apiServerErrors: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    const anyOf = {
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    };
    this.deadLetterQueueDepth = props.deadLetterQueue
      .metricApproximateNumberOfMessagesVisible({ period, statistic: cloudwatch.Stats.MAXIMUM })
      .createAlarm(this, 'DeadLetterQueueDepth', {
        ...anyOf,
        alarmDescription: 'Delivery batches failed every retry and wait in the dead-letter queue.',
      });
    this.importErrors = props.importFunction
      .metricErrors({ period, statistic: cloudwatch.Stats.SUM })
      .createAlarm(this, 'ImportErrors', {
        ...anyOf,
        alarmDescription: 'The CSV importer failed (it is retried; uploads may stay in processing).',
      });
    this.sendErrors = props.sendFunction
      .metricErrors({ period, statistic: cloudwatch.Stats.SUM })
      .createAlarm(this, 'SendErrors', {
        ...anyOf,
        alarmDescription:
          'The send function failed (it is retried twice): a campaign may stay sending, or a cancelled one keep pending recipients, until it is sent or cancelled again.',
      });
    this.apiServerErrors = props.restApi
      .metricServerError({ period, statistic: cloudwatch.Stats.SUM })
      .createAlarm(this, 'ApiServerErrors', {
        ...anyOf,
        alarmDescription: 'The API answered 5xx (ERR_OPERATION_FAILED or a gateway error).',
      });
  }
}
