/** The system's state: the single DynamoDB table and the uploads bucket, from `resources.ts`. */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { uploadsBucket as bucketSpec, table as tableSpec } from '#shared/resources.ts';

export interface StorageProps {
  removalPolicy: RemovalPolicy;
  deletionProtection: boolean;
  /** Days an uploaded CSV is kept under `uploads/` (the import has long finished). */
  uploadExpiryDays: number;
  /** Days a rejection report is kept under `reports/`. */
  reportExpiryDays: number;
  /** Days a recipient export is kept under `exports/` (its record expires with it). */
  exportExpiryDays: number;
}

const key = (name: string): dynamodb.Attribute => ({ name, type: dynamodb.AttributeType.STRING });

export class Storage extends Construct {
  readonly table: dynamodb.Table;
  readonly bucket: s3.Bucket;
  readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    const destroy = props.removalPolicy === RemovalPolicy.DESTROY;

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: key(tableSpec.partitionKey),
      sortKey: key(tableSpec.sortKey),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: tableSpec.ttlAttribute,
      deletionProtection: props.deletionProtection,
      removalPolicy: props.removalPolicy,
    });
    for (const index of tableSpec.indexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: key(index.partitionKey),
        sortKey: key(index.sortKey),
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }

    const common = {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // SSE-S3: no key policy to manage, and presigned PUTs need no KMS grant for the signer.
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: props.removalPolicy,
      // A stage that is torn down (dev) empties its buckets first, so `cdk destroy` completes.
      autoDeleteObjects: destroy,
    } satisfies s3.BucketProps;

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      ...common,
      // CDK grants the S3 logging service principal in the bucket policy, which works with ENFORCED ownership.
      lifecycleRules: [{ expiration: Duration.days(90) }],
    });

    this.bucket = new s3.Bucket(this, 'Uploads', {
      ...common,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'uploads-bucket/',
      lifecycleRules: [
        {
          id: 'expire-uploads',
          prefix: bucketSpec.uploadsPrefix,
          expiration: Duration.days(props.uploadExpiryDays),
        },
        {
          id: 'expire-reports',
          prefix: bucketSpec.reportsPrefix,
          expiration: Duration.days(props.reportExpiryDays),
        },
        {
          id: 'expire-exports',
          prefix: bucketSpec.exportsPrefix,
          expiration: Duration.days(props.exportExpiryDays),
        },
        { id: 'abort-incomplete-multipart', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
  }
}
