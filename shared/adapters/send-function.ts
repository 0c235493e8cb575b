/**
 * How the API starts the send function for a campaign (a send, a one-call send, a cancel's
 * sweep) so that the campaign is never left where nothing will move it on
 * (docs/delivery.md, "Nothing left stuck"):
 *
 * 1. `armSendFunction`, before the campaign changes state: its backstop schedule
 *    (`createResumeSchedule`), which starts the send function a few minutes later;
 * 2. the state change (a conditional write);
 * 3. `startSendFunction`: the asynchronous invoke that starts it now. Should the invoke
 *    fail, or the API function die before it, the backstop starts it instead.
 */
import { sendConfig } from '#shared/config.ts';
import { logger } from '#shared/observability.ts';
import { invokeAsync } from './lambda.ts';
import { createResumeSchedule } from './scheduler.ts';

const sendFunctionArn = sendConfig().SEND_FUNCTION_ARN;

/** Arms the campaign's backstop; throws (before any state change) when it cannot. */
export const armSendFunction = createResumeSchedule;

/**
 * Starts the send function for the campaign now. A failed invoke is logged and not
 * thrown: the campaign has changed state already, and its backstop starts the run.
 */
export async function startSendFunction(appId: string, campaignId: string): Promise<void> {
  try {
    await invokeAsync(sendFunctionArn, { appId, campaignId });
  } catch (error) {
    logger.warn('send: the send function could not be started now; its backstop schedule will start it', {
      appId,
      campaignId,
      error,
    });
  }
}
