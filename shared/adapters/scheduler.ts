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

/** The backstop of a campaign's send or sweep (`createResumeSchedule`); its own name, beside `campaign-<id>`. */
export const resumeScheduleName = (campaignId: string) => `resume-${campaignId}`;

/** Thrown when the campaign already has a schedule. */
export class ScheduleExistsError extends Error {}

/**
 * Creates a one-time schedule `name` that invokes the send function with
 * `{ appId, campaignId }` at `at`, deleted by the service once it has fired.
 * Throws the service's `ConflictException` when one of that name exists.
 */
async function createSendSchedule(name: string, appId: string, campaignId: string, at: Date): Promise<void> {
  await scheduler.send(
    new CreateScheduleCommand({
      Name: name,
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
}

/**
 * Creates the campaign's schedule (`campaign-<id>`), which sends it at `at`.
 *
 * @throws ScheduleExistsError when the campaign already has one.
 */
export async function createCampaignSchedule(appId: string, campaignId: string, at: Date): Promise<void> {
  try {
    await createSendSchedule(campaignScheduleName(campaignId), appId, campaignId, at);
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

/**
 * A backstop for a send or a cancel's sweep started by an asynchronous invoke: a one-time
 * schedule that starts the send function for the campaign again `SEND_RESUME_AFTER_SECONDS`
 * from now, deleted once it has fired. Created before the campaign changes state, so an
 * invoke that fails, or an API function that dies between the change and the invoke, still
 * leaves something that moves the campaign on. A run it starts resumes from the per-shard
 * checkpoints, or finds nothing to do; one that overlaps a running one is harmless.
 * A backstop already waiting for the campaign is enough: its run sees the state as it is then.
 */
export async function createResumeSchedule(appId: string, campaignId: string): Promise<void> {
  const at = new Date(Date.now() + config.SEND_RESUME_AFTER_SECONDS * 1000);
  try {
    await createSendSchedule(resumeScheduleName(campaignId), appId, campaignId, at);
  } catch (error) {
    if (!(error instanceof ConflictException)) throw error;
  }
}
