/** The dashboard's client of the HTTP API (docs/api.md): JSON in, `{ data }` out, errors as ApiError. */
import type { CampaignStatus } from '#shared/domain/campaign-status.ts';

export type { CampaignStatus };

export interface Session {
  /** The API's base URL, ending in `/api`. */
  apiUrl: string;
  appId: string;
  apiKey: string;
}

export interface Counts {
  pending: number;
  queued: number;
  sent: number;
  failed: number;
  skipped: number;
}

/** A sending campaign's pace: measured over the last minute, both null until measured. */
export interface Progress {
  ratePerSecond: number | null;
  /** When the last recipient should be delivered at that rate (ISO-8601). */
  eta: string | null;
  /** When the send started (ISO-8601). */
  startedAt: string;
}

export interface Campaign {
  id: string;
  name: string;
  templateId: string;
  tag: string | null;
  status: CampaignStatus;
  recipientCount: number;
  scheduledAt: string | null;
  counts: Counts;
  createdAt: string;
  updatedAt: string;
  /** Once it ended `sent`, `partially_failed` or `failed`. */
  completedAt?: string;
  /** Only while `sending`. */
  progress?: Progress;
  /** The campaign this one follows up, when it is a follow-up. */
  followUpOf?: string;
  /** True while a follow-up's recipients are being copied (it cannot be sent yet). */
  copying?: boolean;
}

export type VariableType = 'string' | 'number' | 'boolean';

export interface VariableSpec {
  type: VariableType;
  required?: boolean;
  default?: string | number | boolean;
  maxLength?: number;
}

export interface Template {
  id: string;
  name: string;
  title: string | null;
  body: string;
  variableSchema: Record<string, VariableSpec>;
  status: 'draft' | 'approved' | 'archived';
}

export interface Rejection {
  row: number;
  userId: string | null;
  reason: string;
}

export interface Upload {
  uploadId: string;
  status: 'pending' | 'processing' | 'completed' | 'failed';
  rowsRead: number;
  uploaded: number;
  rejected: number;
  duplicates: number;
  error?: { code: string; message: string };
  rejections: Rejection[];
  rejectionsReportUrl?: string;
}

/** What a dry run found of a file's form. */
export interface Detected {
  encoding: string;
  bom: boolean;
  lineEndings: 'LF' | 'CRLF' | 'mixed' | 'none';
  delimiter: string;
  rows: number;
}

/** One of the first valid rows of a dry run, rendered as a send would. */
export interface PreviewRow {
  row: number;
  userId: string;
  variables: Record<string, string | number | boolean>;
  rendered?: { title?: string | null; body: string };
  renderError?: string;
}

/** The answer of a direct dry run (`POST /campaigns/upload?dryRun=true`): nothing was stored. */
export interface DryRun {
  campaignId: string;
  dryRun: true;
  status: 'completed';
  rowsRead: number;
  uploaded: number;
  rejected: number;
  duplicates: number;
  rejections: Rejection[];
  detected: Detected;
  preview: PreviewRow[];
}

/** An export job's progress (`GET /campaigns/{id}/recipients/exports/{exportId}`). */
export interface ExportJob {
  exportId: string;
  status: 'running' | 'ready' | 'failed';
  rows: number;
  url?: string;
  error?: { code: string; message: string } | string;
}

/** The answer of a direct upload: the finished import, or an upload still processing. */
export type DirectUploadResult =
  | {
      status: 'completed';
      uploadId: string;
      uploaded: number;
      rejected: number;
      duplicates: number;
      total: number;
    }
  | { status: 'processing'; uploadId: string };

/** Where the app's messages go: the deployment's default channel, or a webhook of its own. */
export interface Destination {
  kind: 'default' | 'webhook';
  url?: string;
  batchSize: number;
  ratePerSecond: number | null;
  /** The signing secret's last 4 characters. */
  secretHint?: string;
  updatedAt: string | null;
  /** Only in the answer that created the secret (the app's first webhook). */
  signingSecret?: string;
}

export type DestinationInput =
  | { kind: 'default' }
  | { kind: 'webhook'; url: string; batchSize?: number; ratePerSecond?: number | null };

/** The webhook's answer to one signed `test` event. */
export interface DestinationTest {
  /** The HTTP status, or null when no answer came. */
  status: number | null;
  latencyMs: number;
  ok: boolean;
  error?: string;
}

/** An error answer of the API, or a request that never reached it (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

function unreachable(session: Session): ApiError {
  return new ApiError(
    0,
    'ERR_NETWORK',
    `Could not reach the API at ${session.apiUrl}. Check that it is running and, when this page is served from another origin, that the API allows it (docs/dashboard.md).`,
  );
}

function errorFrom(status: number, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.message)
      return new ApiError(status, body.error.code ?? 'ERR_UNKNOWN', body.error.message);
  } catch {
    // Not the API's JSON (a proxy's page, say): fall through.
  }
  return new ApiError(status, 'ERR_UNKNOWN', `The API answered HTTP ${status}.`);
}

/** One API call; resolves to the whole JSON body (`{ data, meta? }`). */
export async function call<T>(session: Session, method: string, path: string, json?: unknown): Promise<T> {
  const headers: Record<string, string> = { appId: session.appId, apiKey: session.apiKey };
  if (json !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${session.apiUrl}${path}`, {
      method,
      headers,
      body: json === undefined ? undefined : JSON.stringify(json),
    });
  } catch {
    throw unreachable(session);
  }
  const text = await res.text();
  if (!res.ok) throw errorFrom(res.status, text);
  return JSON.parse(text) as T;
}

export const listCampaigns = (s: Session, cursor?: string) =>
  call<{ data: Campaign[]; meta: { next: string | null } }>(
    s,
    'GET',
    `/campaigns?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
  );

export const getCampaign = (s: Session, id: string) =>
  call<{ data: Campaign }>(s, 'GET', `/campaigns/${encodeURIComponent(id)}`).then((r) => r.data);

export const createCampaign = (s: Session, body: { name: string; templateId: string; tag?: string }) =>
  call<{ data: Campaign }>(s, 'POST', '/campaigns', body).then((r) => r.data);

export const sendCampaign = (s: Session, id: string, scheduledAt?: string) =>
  call<{ data: Pick<Campaign, 'id' | 'status' | 'scheduledAt'> }>(
    s,
    'POST',
    `/campaigns/${encodeURIComponent(id)}/send`,
    scheduledAt ? { scheduledAt } : {},
  ).then((r) => r.data);

export const cancelCampaign = (s: Session, id: string) =>
  call<{ data: Pick<Campaign, 'id' | 'status'> }>(
    s,
    'POST',
    `/campaigns/${encodeURIComponent(id)}/cancel`,
  ).then((r) => r.data);

export const listTemplates = (s: Session) =>
  call<{ data: Template[]; meta: { next: string | null } }>(s, 'GET', '/templates?limit=100').then(
    (r) => r.data,
  );

export const createTemplate = (
  s: Session,
  body: { name: string; body: string; variableSchema: Record<string, VariableSpec> },
) => call<{ data: Template }>(s, 'POST', '/templates', body).then((r) => r.data);

export const approveTemplate = (s: Session, id: string) =>
  call<{ data: Template }>(s, 'PUT', `/templates/${encodeURIComponent(id)}`, { status: 'approved' }).then(
    (r) => r.data,
  );

export const getDestination = (s: Session) =>
  call<{ data: Destination }>(s, 'GET', '/destination').then((r) => r.data);

export const putDestination = (s: Session, body: DestinationInput) =>
  call<{ data: Destination }>(s, 'PUT', '/destination', body).then((r) => r.data);

export const rotateSigningSecret = (s: Session) =>
  call<{ data: { signingSecret: string } }>(s, 'POST', '/destination/rotate-secret').then((r) => r.data);

export const testDestination = (s: Session) =>
  call<{ data: DestinationTest }>(s, 'POST', '/destination/test').then((r) => r.data);

export const getUpload = (s: Session, campaignId: string, uploadId: string) =>
  call<{ data: Upload }>(
    s,
    'GET',
    `/campaigns/${encodeURIComponent(campaignId)}/uploads/${encodeURIComponent(uploadId)}`,
  ).then((r) => r.data);

/**
 * The direct upload. Resolves once the API answers, which is after the import finished,
 * or with `processing` when it is still running.
 */
export const uploadCsv = (
  session: Session,
  campaignId: string,
  file: File,
  onProgress: (sent: number, total: number) => void,
) => postForm<DirectUploadResult>(session, '/campaigns/upload', campaignId, file, onProgress);

/**
 * Sends a file as the direct upload's form (multipart `file` + `campaignId`) to `path`,
 * with XMLHttpRequest because fetch reports no upload progress.
 */
function postForm<T>(
  session: Session,
  path: string,
  campaignId: string,
  file: File,
  onProgress: (sent: number, total: number) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.set('campaignId', campaignId);
    form.set('file', file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${session.apiUrl}${path}`);
    xhr.setRequestHeader('appId', session.appId);
    xhr.setRequestHeader('apiKey', session.apiKey);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onerror = () => reject(unreachable(session));
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve((JSON.parse(xhr.responseText) as { data: T }).data);
      } else {
        reject(errorFrom(xhr.status, xhr.responseText));
      }
    };
    xhr.send(form);
  });
}

/** The dry run of the direct upload: the import's answer for the file, with nothing stored. */
export const dryRunCsv = (
  session: Session,
  campaignId: string,
  file: File,
  onProgress: (sent: number, total: number) => void,
) => postForm<DryRun>(session, '/campaigns/upload?dryRun=true', campaignId, file, onProgress);

/** A new draft with the finished campaign's recipients in `statuses` (their variables too). */
export const followUp = (s: Session, id: string, body: { name: string; statuses: string[] }) =>
  call<{ data: Campaign }>(s, 'POST', `/campaigns/${encodeURIComponent(id)}/follow-up`, body).then(
    (r) => r.data,
  );

/**
 * The campaign's recipients as CSV: the file itself when the API answers it inline
 * (`200 text/csv`), or the export job it started (`202`), to follow with `getExport`.
 */
export async function exportRecipients(
  session: Session,
  campaignId: string,
): Promise<{ csv: Blob } | { exportId: string }> {
  let res: Response;
  try {
    res = await fetch(`${session.apiUrl}/campaigns/${encodeURIComponent(campaignId)}/recipients/export`, {
      headers: { appId: session.appId, apiKey: session.apiKey },
    });
  } catch {
    throw unreachable(session);
  }
  if (res.status === 200) return { csv: await res.blob() };
  const text = await res.text();
  if (!res.ok) throw errorFrom(res.status, text);
  return { exportId: (JSON.parse(text) as { data: { exportId: string } }).data.exportId };
}

export const getExport = (s: Session, campaignId: string, exportId: string) =>
  call<{ data: ExportJob }>(
    s,
    'GET',
    `/campaigns/${encodeURIComponent(campaignId)}/recipients/exports/${encodeURIComponent(exportId)}`,
  ).then((r) => r.data);
