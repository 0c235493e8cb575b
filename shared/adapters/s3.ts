/**
 * The S3 client, created once per process, with the uploads bucket it serves.
 * `S3_FORCE_PATH_STYLE` is set for emulators reached by IP address.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { bucketConfig } from '#shared/config.ts';

const config = bucketConfig();

/** The uploads bucket. */
export const bucketName = config.BUCKET_NAME;

export const s3 = new S3Client({ forcePathStyle: config.S3_FORCE_PATH_STYLE });
