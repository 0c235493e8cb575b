/** Small display helpers shared by the views. */
import type { CampaignStatus } from './api.ts';

export const formatNumber = (n: number) => n.toLocaleString('en-US');

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime())
    ? iso
    : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function StatusBadge(props: { status: CampaignStatus }) {
  return <span class={`badge badge-${props.status}`}>{props.status.replace('_', ' ')}</span>;
}

/** The message of an error for the page. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
