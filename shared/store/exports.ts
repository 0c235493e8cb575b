/**
 * Recipient export jobs (docs/api.md, "Exporting recipients"), under their app's
 * partition (`shared/domain/keys.ts`): a lookup with another app's id finds nothing.
 * Each record expires (TTL) with its object.
 */
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { handlerTable, type Table } from '#shared/adapters/dynamodb.ts';
import { appPk, exportSk } from '#shared/domain/keys.ts';
import type { RecipientStatus } from '#shared/domain/model.ts';
import { NotFoundError } from '#shared/errors.ts';
import { uploadsBucket } from '#shared/resources.ts';

export type ExportStatus = 'running' | 'ready' | 'failed';

export interface ExportJob {
  exportId: string;
  appId: string;
  campaignId: string;
  status: ExportStatus;
  /** The `?status=` filter of the export, if any. */
  recipientStatus?: RecipientStatus;
  /** Data rows written so far (all of them once `ready`). */
  rows: number;
  objectKey: string;
  error?: string;
  createdAt: string;
  updatedAt: string;
  /** Epoch seconds the record expires at (its object's lifecycle rule runs on days). */
  expiresAt: number;
}

/** Days an export (record and object) is kept: the bucket's lifecycle rule for `exports/`. */
export const EXPORT_EXPIRY_DAYS = uploadsBucket.exportExpiryDays;

const key = (appId: string, campaignId: string, exportId: string) => ({
  pk: appPk(appId),
  sk: exportSk(campaignId, exportId),
});

function fromItem(item: Record<string, unknown>): ExportJob {
  const { pk: _pk, sk: _sk, ...job } = item;
  return job as unknown as ExportJob;
}

/** The exports store on `table`. */
export function createExportsStore(table: Table) {
  async function createExport(job: ExportJob): Promise<void> {
    await table.client.send(
      new PutCommand({
        TableName: table.tableName,
        Item: { ...key(job.appId, job.campaignId, job.exportId), ...job },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  /** The app's export of that campaign, or a `NotFoundError` (also for another app's or campaign's). */
  async function getExport(appId: string, campaignId: string, exportId: string): Promise<ExportJob> {
    const { Item } = await table.client.send(
      new GetCommand({
        TableName: table.tableName,
        Key: key(appId, campaignId, exportId),
        ConsistentRead: true,
      }),
    );
    if (!Item) throw new NotFoundError('Export', exportId);
    return fromItem(Item);
  }

  /** Progress, ready or failed: sets the fields given and `updatedAt`. */
  async function updateExport(
    job: Pick<ExportJob, 'appId' | 'campaignId' | 'exportId'>,
    change: { status?: ExportStatus; rows?: number; error?: string },
  ): Promise<void> {
    const names: Record<string, string> = { '#updatedAt': 'updatedAt' };
    const values: Record<string, unknown> = { ':now': new Date().toISOString() };
    const sets = ['#updatedAt = :now'];
    for (const [field, value] of Object.entries(change)) {
      if (value === undefined) continue;
      names[`#${field}`] = field;
      values[`:${field}`] = value;
      sets.push(`#${field} = :${field}`);
    }
    await table.client.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: key(job.appId, job.campaignId, job.exportId),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  return { createExport, getExport, updateExport };
}

export type ExportsStore = ReturnType<typeof createExportsStore>;

/** The exports store on the handlers' table. */
export const { createExport, getExport, updateExport } = createExportsStore(handlerTable);
