/** The S3-triggered CSV importer: every object created under `uploads/` starts an import. */
import { Stack, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import { Construct } from 'constructs';
import { uploadsBucket as bucketSpec } from '#shared/resources.ts';
import { functions } from '../functions.ts';
import { CampaignFunction, type FunctionDefaults } from './function.ts';

export interface ImportProps extends FunctionDefaults {
  bucket: s3.Bucket;
}

export class Import extends Construct {
  readonly importFunction: CampaignFunction;

  constructor(scope: Construct, id: string, props: ImportProps) {
    super(scope, id);
    this.importFunction = new CampaignFunction(this, 'ImportCsv', { ...props, spec: functions.importCsv });
    props.bucket.addEventNotification(
      s3.EventType.OBJECT_CREATED,
      new s3n.LambdaDestination(this.importFunction),
      { prefix: bucketSpec.uploadsPrefix },
    );
    // The custom resource CDK adds to configure bucket notifications (one per stack).
    const notificationsHandler = Stack.of(this).node.children.find((c) =>
      c.node.id.startsWith('BucketNotificationsHandler'),
    );
    if (notificationsHandler) {
      Validations.of(notificationsHandler).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          "CDK's own BucketNotificationsHandler runs once at deployment to set the bucket notification; its role and managed policy are not configurable.",
      });
    }
  }
}
