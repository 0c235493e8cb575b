/**
 * Every Lambda function of the system: its entry under `functions/` and the limits the
 * CDK stack gives it. The local runtime loads the same entries.
 */
import { deliveryQueue } from '#shared/resources.ts';
import { apiFunctions } from './routes.ts';

export interface FunctionSpec {
  entry: string;
  timeoutSeconds: number;
  memoryMb: number;
}

const api = (entry: string): FunctionSpec => ({ entry, timeoutSeconds: 29, memoryMb: 512 });

export const functions = {
  templatesApi: api(apiFunctions.templates),
  campaignsApi: api(apiFunctions.campaigns),
  uploadsApi: api(apiFunctions.uploads),
  notificationsApi: api(apiFunctions.notifications),
  destinationApi: api(apiFunctions.destination),
  exportsApi: api(apiFunctions.exports),
  /** S3-triggered CSV importer. */
  importCsv: { entry: 'functions/import-csv.ts', timeoutSeconds: 900, memoryMb: 1024 },
  /** Reads a campaign's recipients and puts batches on the delivery queue. */
  sendCampaign: { entry: 'functions/send-campaign.ts', timeoutSeconds: 900, memoryMb: 1024 },
  /** Writes a recipient export past the inline bound to S3 (started by the exports API). */
  exportRecipients: { entry: 'functions/export-recipients.ts', timeoutSeconds: 900, memoryMb: 512 },
  /** SQS consumer that delivers batches of recipients. */
  deliverBatch: {
    entry: 'functions/deliver-batch.ts',
    timeoutSeconds: deliveryQueue.consumerTimeoutSeconds,
    memoryMb: 512,
  },
} as const satisfies Record<string, FunctionSpec>;

export type FunctionName = keyof typeof functions;
