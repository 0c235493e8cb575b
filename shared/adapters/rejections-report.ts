/**
 * The rejections report of an upload: a CSV (`row,user_id,reason`) written line by line
 * to a temporary file while the import runs, then put in S3. Memory does not grow with
 * the number of rejections.
 */

import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { bucketName, s3 } from '#shared/adapters/s3.ts';
import { csvLine } from '#shared/domain/csv-rules.ts';
import type { Rejection } from '#shared/domain/model.ts';

export class RejectionsReport {
  readonly #path: string;
  #file: WriteStream | undefined;
  #bytes = 0;
  count = 0;

  constructor(name: string) {
    this.#path = join(tmpdir(), `${name}-${process.pid}-${Date.now()}.csv`);
  }

  async add(rejection: Rejection): Promise<void> {
    if (!this.#file) {
      this.#file = createWriteStream(this.#path);
      this.#write(csvLine(['row', 'user_id', 'reason']));
    }
    this.count += 1;
    if (!this.#write(csvLine([rejection.row, rejection.userId, rejection.reason])))
      await once(this.#file, 'drain');
  }

  #write(line: string): boolean {
    this.#bytes += Buffer.byteLength(line);
    return (this.#file as WriteStream).write(line);
  }

  /** Puts the report at `key` when any row was rejected; returns the key, or undefined. */
  async save(key: string): Promise<string | undefined> {
    const file = this.#file;
    if (!file) return undefined;
    try {
      file.end();
      await once(file, 'finish');
      await s3.send(
        new PutObjectCommand({
          Bucket: bucketName,
          Key: key,
          Body: createReadStream(this.#path),
          ContentLength: this.#bytes,
          ContentType: 'text/csv; charset=utf-8',
        }),
      );
      return key;
    } finally {
      await this.discard();
    }
  }

  async discard(): Promise<void> {
    this.#file?.destroy();
    await rm(this.#path, { force: true });
  }
}
