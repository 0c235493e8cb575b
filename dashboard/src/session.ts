/** Where the dashboard keeps the operator's credentials, and the optional config.json beside the page. */
import type { Session } from './api.ts';

/**
 * `config.json` next to index.html. The local runtime serves one with its seeded app's
 * credentials; a static deployment may ship one with `apiUrl` only (never a key).
 */
export interface DashboardConfig {
  apiUrl?: string;
  appId?: string;
  apiKey?: string;
  /** Largest file the API accepts as a direct upload (DIRECT_UPLOAD_MAX_BYTES). */
  directUploadMaxBytes?: number;
}

/** The API's default DIRECT_UPLOAD_MAX_BYTES. */
export const DEFAULT_DIRECT_UPLOAD_MAX_BYTES = 4 * 1024 * 1024;

const KEY = 'csv-campaigns.session';

export async function loadConfig(): Promise<DashboardConfig> {
  try {
    const res = await fetch('config.json', { cache: 'no-store' });
    if (!res.ok) return {};
    const body = (await res.json()) as unknown;
    return body && typeof body === 'object' ? (body as DashboardConfig) : {};
  } catch {
    return {};
  }
}

export function loadSession(): Session | undefined {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Session | null;
    return stored?.apiUrl && stored.appId && stored.apiKey ? stored : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(session: Session | undefined): void {
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.removeItem(KEY);
}

/** The upload last made from this tab for a campaign, so its report survives a reload. */
export function lastUploadId(campaignId: string): string | undefined {
  return sessionStorage.getItem(`${KEY}.upload.${campaignId}`) ?? undefined;
}

export function rememberUpload(campaignId: string, uploadId: string): void {
  sessionStorage.setItem(`${KEY}.upload.${campaignId}`, uploadId);
}
