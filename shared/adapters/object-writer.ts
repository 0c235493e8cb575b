/**
 * Writes a stream of text to one S3 object in bounded memory: parts of a multipart
 * upload, a single PUT when it all fits one part. (`@aws-sdk/lib-storage`'s `Upload`
 * does the same; it is not a dependency, and this is the little of it the export needs.)
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';

type Send = (command: unknown) => Promise<unknown>;

export interface ObjectTarget {
  bucket: string;
  key: string;
  contentType: string;
  /** Bytes per part (S3: at least 5 MiB, but the last). */
  partBytes: number;
}

/**
 * Writes `lines` to one S3 object and resolves with the bytes written. Lines are gathered
 * until they make a part of `partBytes`, which is uploaded (awaited: the next lines are
 * read only then) before more are gathered, so memory holds at most one part and one
 * line. A stream that fits one part is one PutObject. A failure aborts the multipart
 * upload (the bucket's lifecycle rule aborts one left behind by a crash).
 */
export async function writeObject(
  client: Pick<S3Client, 'send'>,
  target: ObjectTarget,
  lines: AsyncIterable<string>,
  onPart?: (part: { number: number; bytes: number }) => void | Promise<void>,
): Promise<{ bytes: number; parts: number }> {
  const send = client.send.bind(client) as Send;
  const { bucket, key } = target;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let total = 0;
  let uploadId: string | undefined;
  const parts: { ETag: string; PartNumber: number }[] = [];

  const flushPart = async () => {
    if (uploadId === undefined) {
      const created = (await send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: target.contentType }),
      )) as { UploadId?: string };
      if (!created.UploadId) throw new Error('S3 answered CreateMultipartUpload without an UploadId');
      uploadId = created.UploadId;
    }
    const body = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    const PartNumber = parts.length + 1;
    const { ETag } = (await send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber, Body: body }),
    )) as { ETag?: string };
    if (!ETag) throw new Error(`S3 answered UploadPart ${PartNumber} without an ETag`);
    parts.push({ ETag, PartNumber });
    await onPart?.({ number: PartNumber, bytes: body.length });
  };

  try {
    for await (const line of lines) {
      const chunk = Buffer.from(line, 'utf8');
      pending.push(chunk);
      pendingBytes += chunk.length;
      total += chunk.length;
      if (pendingBytes >= target.partBytes) await flushPart();
    }
    if (uploadId === undefined) {
      await send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          ContentType: target.contentType,
          Body: Buffer.concat(pending, pendingBytes),
        }),
      );
      return { bytes: total, parts: 0 };
    }
    if (pendingBytes > 0) await flushPart();
    await send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    return { bytes: total, parts: parts.length };
  } catch (error) {
    if (uploadId !== undefined) {
      await send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(
        () => undefined,
      );
    }
    throw error;
  }
}
