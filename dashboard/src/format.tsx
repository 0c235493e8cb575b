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

/** A time of day to the second (`14:03:20`), with the day in front when it is not today. */
export function formatClock(when: string | Date): string {
  const date = new Date(when);
  if (Number.isNaN(date.getTime())) return String(when);
  const time = date.toLocaleTimeString(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  });
  if (date.toDateString() === new Date().toDateString()) return time;
  return `${date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })}, ${time}`;
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
