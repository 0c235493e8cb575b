/**
 * EventBridge Scheduler, created once per process and traced (a no-op outside Lambda):
 * one-time schedules that start the send function for a campaign sent at a later time
 * (`AWS_ENDPOINT_URL_SCHEDULER` locally).
 */
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
} from '@aws-sdk/client-scheduler';
import { schedulerConfig } from '#shared/config.ts';
import { atExpression, campaignScheduleName } from '#shared/domain/sending.ts';
import { tracer } from '#shared/observability.ts';

const config = schedulerConfig();

export const scheduler = tracer.captureAWSv3Client(new SchedulerClient({}));

/** Thrown when the campaign already has a schedule. */
export class ScheduleExistsError extends Error {}

/**
 * Creates the one-time schedule that invokes the send function with
 * `{ appId, campaignId }` at `at`, deleted by the service once it has fired.
 *
 * @throws ScheduleExistsError when the campaign already has one.
 */
export async function createCampaignSchedule(appId: string, campaignId: string, at: Date): Promise<void> {
  try {
    await scheduler.send(
      new CreateScheduleCommand({
        Name: campaignScheduleName(campaignId),
        GroupName: config.SCHEDULE_GROUP_NAME,
        ScheduleExpression: atExpression(at),
        ScheduleExpressionTimezone: 'UTC',
        FlexibleTimeWindow: { Mode: 'OFF' },
        ActionAfterCompletion: 'DELETE',
        Target: {
          Arn: config.SEND_FUNCTION_ARN,
          RoleArn: config.SCHEDULER_ROLE_ARN,
          Input: JSON.stringify({ appId, campaignId }),
        },
      }),
    );
  } catch (error) {
    if (error instanceof ConflictException) {
      throw new ScheduleExistsError(`Campaign '${campaignId}' already has a schedule.`, { cause: error });
    }
    throw error;
  }
}

/** Deletes the campaign's schedule; one that has fired (and deleted itself) or never existed is fine. */
export async function deleteCampaignSchedule(campaignId: string): Promise<void> {
  try {
    await scheduler.send(
      new DeleteScheduleCommand({
        Name: campaignScheduleName(campaignId),
        GroupName: config.SCHEDULE_GROUP_NAME,
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
}
