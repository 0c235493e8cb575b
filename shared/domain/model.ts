/**
 * The shapes of the system's items, shared by the API, the importer and the delivery
 * path. Store modules add the table keys (`shared/domain/keys.ts`) around them.
 */
import { z } from 'zod';
import type { CampaignStatus } from './campaign-status.ts';
import type { CsvDetected } from './csv-stream.ts';
import type { PreviewEntry } from './dry-run.ts';

/** Variable keys: identifiers, never `user_id` (that column names the recipient). */
export const VARIABLE_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const variableSpec = z
  .object({
    type: z.enum(['string', 'number', 'boolean']),
    required: z.boolean().optional(),
    default: z.union([z.string(), z.number(), z.boolean()]).optional(),
    maxLength: z.number().int().positive().optional(),
  })
  .strict();

export type VariableSpec = z.infer<typeof variableSpec>;

/** `{ "<key>": { type, required?, default?, maxLength? } }` (docs/api.md, Templates). */
export type VariableSchema = Record<string, VariableSpec>;

/** A variable's value once checked against its spec. */
export type VariableValue = string | number | boolean;

export type TemplateStatus = 'draft' | 'approved' | 'archived';

export interface Template {
  id: string;
  appId: string;
  name: string;
  title?: string;
  body: string;
  variableSchema: VariableSchema;
  status: TemplateStatus;
  createdAt: string;
  updatedAt: string;
}

// Defined with the state machine, in a module with no imports that the dashboard bundles too.
export { CAMPAIGN_STATUSES, type CampaignStatus } from './campaign-status.ts';

export const RECIPIENT_STATUSES = ['pending', 'queued', 'sent', 'failed', 'skipped'] as const;
export type RecipientStatus = (typeof RECIPIENT_STATUSES)[number];

export type RecipientCounts = Record<RecipientStatus, number>;

export interface Campaign {
  id: string;
  appId: string;
  name: string;
  templateId: string;
  tag?: string;
  status: CampaignStatus;
  /** Distinct recipients of the campaign. */
  recipientCount: number;
  scheduledAt: string | null;
  counts: RecipientCounts;
  /** The upload whose import is running, if any (blocks send, upload and inline adds). */
  importingUploadId?: string;
  /**
   * Recipients per delivery chunk, fixed by the campaign's first dispatch (the app's
   * destination batch size then): every later run and a cancel's sweep cut the same chunks.
   */
  chunkSize?: number;
  /** A follow-up: the campaign its recipients were copied from (`POST /api/campaigns/{id}/follow-up`). */
  followUpOf?: string;
  /** A follow-up: the source's recipient statuses it copied. */
  followUpStatuses?: RecipientStatus[];
  createdAt: string;
  updatedAt: string;
  /** When the campaign became `sending`: set once, a resumed send keeps it. */
  startedAt?: string;
  completedAt?: string;
  /**
   * Recipients settled (sent, failed or skipped) per 5-second slot of the last minutes,
   * summed over the counter shards on read; never stored as such
   * (shared/domain/campaign-progress.ts).
   */
  settledBySlot?: ReadonlyMap<number, number>;
}

export type UploadStatus = 'pending' | 'processing' | 'completed' | 'failed';

export interface Rejection {
  /** 1-based line number of the data row in the file, the header being row 1. */
  row: number;
  userId: string;
  reason: string;
}

export interface Upload {
  uploadId: string;
  appId: string;
  campaignId: string;
  /** `direct` (multipart through the API) or `presigned` (PUT straight to S3). */
  source: 'direct' | 'presigned';
  status: UploadStatus;
  /** S3 key: `uploads/<appId>/<campaignId>/<uploadId>.csv`. */
  objectKey: string;
  /** Bytes the presigned URL allows, or the direct upload's size. */
  maxBytes: number;
  rowsRead: number;
  uploaded: number;
  rejected: number;
  duplicates: number;
  error?: { code: string; message: string };
  /** The first 100 rejected rows. */
  rejections: Rejection[];
  /** S3 key of the full rejections CSV, when any row was rejected. */
  rejectionsReportKey?: string;
  createdAt: string;
  updatedAt: string;
  completedAt?: string;
  /**
   * A dry run (shared/domain/dry-run.ts): imported with writes off, it never takes the
   * campaign's lock nor adds a recipient; it keeps `detected` and `preview` when completed.
   */
  dryRun?: true;
  detected?: CsvDetected;
  preview?: PreviewEntry[];
}

export interface Recipient {
  appId: string;
  campaignId: string;
  userId: string;
  status: RecipientStatus;
  /**
   * Values from the CSV or the inline add (an empty one stores its default); template
   * defaults apply when rendering.
   */
  variables: Record<string, VariableValue>;
  /** The upload that last wrote this recipient (absent for inline adds). */
  uploadId?: string;
  error?: string;
  updatedAt: string;
}
