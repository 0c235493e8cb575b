/**
 * The deliver consumer's time budget: how long before its timeout it stops claiming
 * chunks, so that a claimed chunk's channel call, with every retry, and the write of its
 * outcome always end before the function is stopped (a chunk left claimed would end
 * `failed` with "delivery outcome unknown").
 */
import { webhookCallBudgetMs } from '#shared/adapters/webhook-channel.ts';

/** Time kept, beyond the longest channel call, for writing a chunk's outcome. */
export const OUTCOME_MARGIN_MS = 5_000;
/** Time a receive has at the least for delivering, after keeping the claim cutoff aside. */
export const MIN_DELIVERY_WINDOW_MS = 30_000;

/** The webhook channel's timings that bound one call (`webhookTimingOf` gives them from configuration). */
export type WebhookTiming = Parameters<typeof webhookCallBudgetMs>[0];

/**
 * No new claim with less time left than this: the longest webhook call with every retry
 * (`webhookCallBudgetMs`), plus the time to write its outcome, so a claimed chunk always
 * ends before the function times out. Checked at cold start against the function's
 * timeout: a configuration that leaves less than `MIN_DELIVERY_WINDOW_MS` to deliver in
 * fails the function at once, naming the variables, instead of leaving claims unknown.
 */
export function claimCutoffMs(timing: WebhookTiming, functionTimeoutMs: number): number {
  const budget = webhookCallBudgetMs(timing);
  const cutoff = budget + OUTCOME_MARGIN_MS;
  if (cutoff > functionTimeoutMs - MIN_DELIVERY_WINDOW_MS) {
    throw new Error(
      `Invalid delivery configuration: one webhook call with every retry may take ${budget} ms (WEBHOOK_MAX_ATTEMPTS × WEBHOOK_TIMEOUT_MS + (WEBHOOK_MAX_ATTEMPTS − 1) × max(WEBHOOK_MAX_DELAY_MS, WEBHOOK_MAX_RETRY_AFTER_MS)); with ${OUTCOME_MARGIN_MS} ms to store its outcome that is more than the deliver function's timeout of ${functionTimeoutMs} ms allows while keeping ${MIN_DELIVERY_WINDOW_MS} ms to deliver in: lower those variables.`,
    );
  }
  return cutoff;
}
