/**
 * Pure rules of the sending path (docs/delivery.md, Sending): where a one-call send is
 * stored, how a send time becomes a one-time schedule, and how long a failed delivery
 * message waits before its next receive.
 */

/** Ids of one-call sends start with this; they live in their app's notification scope. */
export const NOTIFICATION_ID_PREFIX = 'ntf_';

/**
 * The app id under which a campaign's items are stored. A one-call send is stored as a
 * hidden campaign under `<appId>#NTF` (app ids never contain `#`), so no campaign
 * listing, lookup or cursor of the app ever sees it.
 */
export function storeAppId(appId: string, campaignId: string): string {
  return campaignId.startsWith(NOTIFICATION_ID_PREFIX) ? `${appId}#NTF` : appId;
}

/**
 * `at(yyyy-mm-ddThh:mm:ss)` (UTC) for `time`, rounded up to the second, so a schedule
 * never fires before the time asked for.
 */
export function atExpression(time: Date): string {
  const seconds = Math.ceil(time.getTime() / 1000) * 1000;
  return `at(${new Date(seconds).toISOString().slice(0, 19)})`;
}

/** The wait before a failed message's next receive: base × 2^(receives − 1) seconds, capped. */
export function retryDelaySeconds(receiveCount: number, baseSeconds: number, maxSeconds: number): number {
  return Math.min(maxSeconds, baseSeconds * 2 ** Math.max(0, receiveCount - 1));
}

/** The schedule of a campaign: one per campaign, so a second one is a conflict. */
export const campaignScheduleName = (campaignId: string) => `campaign-${campaignId}`;
