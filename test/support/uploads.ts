/** Helpers for upload tests: an approved template and a campaign, forms, CSV files, polling. */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'vitest';
import { recipientPk, recipientSk, shardOf } from '#shared/domain/keys.ts';
import { currentTable } from '#test/support/current-runtime.ts';
import { audienceSchema } from './audience.ts';
import type { apiClient } from './runtime.ts';

export { audienceCsv, audienceSchema } from './audience.ts';

type Client = ReturnType<typeof apiClient>;

/** An approved template with `audienceSchema`, and a draft campaign linked to it. */
export async function draftCampaign(
  api: Client,
  schema: Record<string, unknown> = audienceSchema,
): Promise<string> {
  const keys = Object.keys(schema);
  const template = await api.post('/api/templates', {
    name: 'audience',
    body: keys.map((k) => `{{${k}}}`).join(' ') || 'hello',
    variableSchema: schema,
  });
  expect(template.status).toBe(201);
  const approved = await api.put(`/api/templates/${template.body.data.id}`, { status: 'approved' });
  expect(approved.status).toBe(200);
  const campaign = await api.post('/api/campaigns', {
    name: 'upload test',
    templateId: template.body.data.id,
  });
  expect(campaign.status).toBe(201);
  return campaign.body.data.id as string;
}

/** A multipart body as a browser or curl would send it. */
export function uploadForm(campaignId: string, file: string | Buffer, fieldName = 'file'): FormData {
  const form = new FormData();
  form.set('campaignId', campaignId);
  form.set(fieldName, new Blob([file]), 'audience.csv');
  return form;
}

export function postUpload(api: Client, form: FormData) {
  return api.request<any>('POST', '/api/campaigns/upload', { body: form });
}

/** Polls an upload until it is completed or failed. */
export async function settledUpload(api: Client, campaignId: string, uploadId: string, timeout = 90_000) {
  let last: any;
  await expect
    .poll(
      async () => {
        last = (await api.get(`/api/campaigns/${campaignId}/uploads/${uploadId}`)).body.data;
        return last?.status;
      },
      { timeout, interval: 250 },
    )
    .toMatch(/^(completed|failed)$/);
  return last;
}

/** The stored recipient item of a user, read straight from the table. */
export async function storedRecipient(appId: string, campaignId: string, userId: string) {
  const { client: documents, tableName, recipientShards } = currentTable();
  const { Item } = await documents.send(
    new GetCommand({
      TableName: tableName,
      Key: { pk: recipientPk(appId, campaignId, shardOf(userId, recipientShards)), sk: recipientSk(userId) },
    }),
  );
  return Item;
}
