/**
 * Import of a 100,000-row CSV end to end (S3 object -> every recipient stored) next to
 * the bare BatchWriteItem loop writing the same items to the same DynamoDB Local, in the
 * same run, and the importer's peak RSS.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { S3Event } from 'aws-lambda';
import pLimit from 'p-limit';
import { startEmbeddedAws } from '#infra/local/embedded-aws.ts';
import { retry } from '#shared/retry.ts';
import { audienceCsv, audienceUserId, audienceVariables } from '#test/support/audience.ts';

export interface ImportBench {
  rows: number;
  rowsPerSecond: number;
  batchWriteItemsPerSecond: number;
  /** Peak RSS of the importer's own process. */
  peakRssMiB: number;
  /** Its RSS before the import began (runtime, SDK and code loaded). */
  startRssMiB: number;
}

export async function benchImport(rows = 100_000): Promise<ImportBench> {
  const aws = await startEmbeddedAws();
  Object.assign(process.env, aws.env, { POWERTOOLS_METRICS_DISABLED: 'true', POWERTOOLS_LOG_LEVEL: 'ERROR' });
  try {
    const { documents, defaultTable } = await import('#shared/adapters/dynamodb.ts');
    const { tableName } = defaultTable();
    const { BATCH_WRITE_RETRY, recipientItem } = await import('#shared/store/recipients.ts');
    const csv = audienceCsv(rows);
    const now = new Date().toISOString();

    // Bare loop: the same items, 25 per call, 8 calls in flight (the importer's setting), unprocessed items
    // retried as the importer retries them.
    const items = Array.from({ length: rows }, (_, i) =>
      recipientItem(
        'bench-app',
        'cmp_bare',
        { userId: audienceUserId(i + 1), variables: audienceVariables(i + 1) },
        now,
      ),
    );
    const bareStarted = performance.now();
    const starts = Array.from({ length: Math.ceil(items.length / 25) }, (_, i) => i * 25);
    await pLimit(8).map(starts, async (start) => {
      let requests = items.slice(start, start + 25).map((Item) => ({ PutRequest: { Item } }));
      await retry(async () => {
        const out = await documents.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
        requests = (out.UnprocessedItems?.[tableName] ?? []) as typeof requests;
        if (requests.length > 0) throw new Error(`bare loop: ${requests.length} items left unprocessed`);
      }, BATCH_WRITE_RETRY);
    });
    const bareSeconds = (performance.now() - bareStarted) / 1000;
    items.length = 0;

    // The real importer, triggered by the object's S3 event.
    const { newTemplate } = await import('#shared/domain/templates.ts');
    const { createTemplate } = await import('#shared/store/templates.ts');
    const { newCampaign } = await import('#shared/domain/campaigns.ts');
    const { createCampaign } = await import('#shared/store/campaigns.ts');
    const { createUpload, newUpload, getUpload } = await import('#shared/store/uploads.ts');
    const { s3, bucketName } = await import('#shared/adapters/s3.ts');
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');

    const template = {
      ...newTemplate(
        {
          name: 'bench',
          body: '{{name}} {{discount}} {{vip}}',
          variableSchema: {
            name: { type: 'string' },
            discount: { type: 'number' },
            vip: { type: 'boolean' },
          },
        },
        { id: 'tpl_bench', appId: 'bench-app', now },
      ),
      status: 'approved' as const,
    };
    await createTemplate(template);
    const campaign = newCampaign(
      { name: 'bench', templateId: template.id },
      { id: 'cmp_bench', appId: 'bench-app', now },
    );
    await createCampaign(campaign);
    const upload = newUpload({
      uploadId: 'upl_bench',
      appId: 'bench-app',
      campaignId: campaign.id,
      source: 'presigned',
      maxBytes: Buffer.byteLength(csv),
    });
    await createUpload(upload);

    const event = new Promise<S3Event>((resolve) => aws.onObjectCreated(resolve));
    await s3.send(new PutObjectCommand({ Bucket: bucketName, Key: upload.objectKey, Body: csv }));
    const s3Event = await event;

    // The importer runs in a fresh process of its own, as in Lambda, so its RSS is its own.
    const child = spawn(process.execPath, [fileURLToPath(new URL('./import-run.ts', import.meta.url))], {
      env: { ...process.env, BENCH_EVENT: JSON.stringify(s3Event) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += String(d);
    });
    const [code] = await once(child, 'exit');
    if (code !== 0) throw new Error(`the importer process failed (${code}): ${output}`);
    const run = JSON.parse(output.trim().split('\n').pop() as string) as {
      seconds: number;
      peakRssMiB: number;
      startRssMiB: number;
    };
    const done = await getUpload('bench-app', campaign.id, upload.uploadId);
    if (done.status !== 'completed' || done.uploaded !== rows) {
      throw new Error(
        `the bench import did not complete: ${JSON.stringify({ status: done.status, uploaded: done.uploaded, error: done.error })}`,
      );
    }
    return {
      rows,
      rowsPerSecond: Math.round(rows / run.seconds),
      batchWriteItemsPerSecond: Math.round(rows / bareSeconds),
      peakRssMiB: run.peakRssMiB,
      startRssMiB: run.startRssMiB,
    };
  } finally {
    await aws.stop();
  }
}
