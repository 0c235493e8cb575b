/**
 * The S3 client, created once per process and traced (a no-op outside Lambda), with the
 * uploads bucket it serves.
 * `S3_FORCE_PATH_STYLE` is set for emulators reached by IP address.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { bucketConfig } from '#shared/config.ts';
import { tracer } from '#shared/observability.ts';

const config = bucketConfig();

/** The uploads bucket. */
export const bucketName = config.BUCKET_NAME;

export const s3 = tracer.captureAWSv3Client(new S3Client({ forcePathStyle: config.S3_FORCE_PATH_STYLE }));

/**
 * The client that signs presigned URLs. Without `WHEN_REQUIRED` the SDK computes a CRC32
 * at signing time, when there is no body yet, and signs the checksum of an empty body
 * (`x-amz-checksum-crc32=AAAAAA==`) into the URL: the real upload's checksum can never
 * match it, and S3-compatible stores that check it refuse every upload.
 *
 * Not traced: it only signs, on this machine, and never sends a request (a traced one
 * would record a made-up S3 call for every URL it signs).
 */
export const presigningS3 = new S3Client({
  forcePathStyle: config.S3_FORCE_PATH_STYLE,
  requestChecksumCalculation: 'WHEN_REQUIRED',
});
