/**
 * The SNS delivery channel, the deployment's default on AWS: each message of a batch
 * becomes one SNS message on one topic, so whoever owns the users' side subscribes
 * what they like (an SQS queue, a Lambda, an HTTPS endpoint, a filter per app).
 *
 * Each message: `Message` is the JSON `SnsMessage` (`type: "campaign.message"`, `appId`,
 * `campaignId`, `idempotencyKey`, `userId`, `title`, `body`), with the String message
 * attributes `appId` and `campaignId` for subscription filter policies. A batch of up to
 * 100 (a delivery chunk) is sent as `PublishBatch` calls of up to 10 (SNS's limit), split
 * further only where messages together pass SNS's 256 KiB request limit.
 *
 * Answers:
 * - an entry SNS reports `Failed` with `SenderFault: true` (the entry is wrong): that
 *   message `rejected`, naming SNS's code;
 * - an entry `Failed` without a sender fault (SNS's own trouble): sent again, alone with
 *   the others that failed, up to `maxAttempts` tries in all with backoff, then `rejected`;
 * - a message over 256 KiB with its attributes: `rejected` before any call, naming the limit;
 * - the whole call failing before anything was accepted (the SDK has already retried
 *   throttling and 5xx): throttling, 5xx or no answer is a `TransientDeliveryError`,
 *   anything else (access denied, no such topic, a disabled key) a `PermanentDeliveryError`.
 *   Once some messages were accepted, the call's failure is the remaining messages' try.
 *
 * Reasons and summaries name SNS's error codes and HTTP status, never its messages, which
 * may quote the deployment's ARNs and roles to the apps that read the reasons.
 */
import { PublishBatchCommand, type PublishBatchRequestEntry, type SNSClient } from '@aws-sdk/client-sns';
import {
  boundReason,
  type ChannelBatch,
  type ChannelMessage,
  type ChannelResult,
  type DeliveryChannel,
  PermanentDeliveryError,
  TransientDeliveryError,
} from '#shared/domain/channel.ts';
import { retry } from '#shared/retry.ts';

/** SNS's most entries per `PublishBatch`. */
export const SNS_MAX_BATCH_SIZE = 10;
/**
 * Most messages of one `deliverBatch`: a whole delivery chunk, sent as `PublishBatch` calls
 * of up to 10. Once a call was accepted, a later call's failure is retried here (the
 * consumer cannot try part of a chunk again), so a throttle in the middle of a chunk does
 * not give up the messages after it.
 */
export const SNS_CHANNEL_BATCH_SIZE = 100;
/** SNS's most bytes of one message with its attributes, and of one `PublishBatch` altogether. */
export const SNS_MAX_MESSAGE_BYTES = 256 * 1024;

export interface SnsChannelOptions {
  client: SNSClient;
  topicArn: string;
  /** Tries of an entry SNS failed on its side, the first included (default 3). */
  maxAttempts?: number;
  /** Backoff before try n+1 is random in [0, min(maxDelayMs, baseDelayMs × 2^(n-1))) (defaults 200, 1,000 ms). */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** One message on the topic, as subscribers receive it (the `Message` of an SNS notification). */
export interface SnsMessage {
  type: 'campaign.message';
  appId: string;
  campaignId: string;
  idempotencyKey: string;
  userId: string;
  /** null when the template has no title. */
  title: string | null;
  body: string;
}

interface Entry {
  index: number;
  request: PublishBatchRequestEntry;
  bytes: number;
}

/** SNS counts a message's bytes with its attributes' names, types and values. */
function sizeOf(request: PublishBatchRequestEntry): number {
  let bytes = Buffer.byteLength(request.Message ?? '', 'utf8');
  for (const [name, value] of Object.entries(request.MessageAttributes ?? {})) {
    bytes += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(value.DataType ?? '', 'utf8');
    bytes += Buffer.byteLength(value.StringValue ?? '', 'utf8');
  }
  return bytes;
}

/**
 * The entries in consecutive groups of at most 10 whose bytes together stay within SNS's
 * request limit: one `PublishBatch` each.
 */
function requestsOf(entries: readonly Entry[]): Entry[][] {
  const groups: Entry[][] = [];
  let group: Entry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (
      group.length > 0 &&
      (group.length === SNS_MAX_BATCH_SIZE || bytes + entry.bytes > SNS_MAX_MESSAGE_BYTES)
    ) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(entry);
    bytes += entry.bytes;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'KMSThrottlingException',
]);

/** Worth trying again: throttling, SNS's own failure (5xx), or no answer at all (network, timeout). */
function isTransient(error: unknown): boolean {
  const { name, $metadata, $fault } = (error ?? {}) as {
    name?: string;
    $metadata?: { httpStatusCode?: number };
    $fault?: string;
  };
  const status = $metadata?.httpStatusCode;
  if (status === undefined) return true;
  return THROTTLING.has(name ?? '') || status === 429 || status >= 500 || $fault === 'server';
}

/** The error's code and status, for reasons and logs: never SNS's message. */
function describe(error: unknown): string {
  const { name, $metadata } = (error ?? {}) as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = $metadata?.httpStatusCode;
  return status === undefined ? `${name ?? 'error'}, no answer` : `${name ?? 'error'}, HTTP ${status}`;
}

/** Entries SNS failed on its side in this try; the next try sends them alone. */
class EntriesFailed extends Error {}

export function createSnsChannel(options: SnsChannelOptions): DeliveryChannel {
  const { client, topicArn } = options;
  const maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  const baseDelayMs = options.baseDelayMs ?? 200;
  const maxDelayMs = options.maxDelayMs ?? 1_000;

  return {
    name: 'sns',
    maxBatchSize: SNS_CHANNEL_BATCH_SIZE,
    async deliverBatch(batch: ChannelBatch): Promise<ChannelResult[]> {
      const { messages } = batch;
      if (messages.length > SNS_CHANNEL_BATCH_SIZE) {
        throw new RangeError(`sns batch of ${messages.length} messages, more than ${SNS_CHANNEL_BATCH_SIZE}`);
      }
      const results: (ChannelResult | undefined)[] = messages.map(() => undefined);
      const entries: Entry[] = [];
      messages.forEach((message, index) => {
        const request = entryOf(batch, message, index);
        const bytes = sizeOf(request);
        if (bytes > SNS_MAX_MESSAGE_BYTES) {
          results[index] = {
            status: 'rejected',
            reason: `the message is ${bytes} bytes with its attributes, over SNS's limit of ${SNS_MAX_MESSAGE_BYTES} bytes (256 KiB): shorten the template's body or the variables`,
          };
        } else entries.push({ index, request, bytes });
      });

      let accepted = false;
      for (const group of requestsOf(entries)) {
        let remaining = group;
        let tries = 0;
        let lastFailure = '';
        try {
          await retry(
            async (attempt) => {
              tries = attempt;
              const answer = await client.send(
                new PublishBatchCommand({
                  TopicArn: topicArn,
                  PublishBatchRequestEntries: remaining.map((e) => e.request),
                }),
              );
              const byId = new Map(remaining.map((e) => [e.request.Id, e]));
              for (const done of answer.Successful ?? []) {
                const entry = byId.get(done.Id);
                if (entry) results[entry.index] = { status: 'accepted' };
                accepted ||= entry !== undefined;
              }
              const retry = new Set<Entry>();
              for (const failed of answer.Failed ?? []) {
                const entry = byId.get(failed.Id);
                if (!entry) continue;
                if (failed.SenderFault) {
                  results[entry.index] = {
                    status: 'rejected',
                    reason: boundReason(`SNS rejected the message (${failed.Code ?? 'no code'})`),
                  };
                } else {
                  retry.add(entry);
                  lastFailure = failed.Code ?? 'no code';
                }
              }
              // An entry SNS named in neither list is one it may not have taken: try it again too.
              for (const entry of remaining) if (results[entry.index] === undefined) retry.add(entry);
              remaining = remaining.filter((e) => retry.has(e));
              if (remaining.length > 0) throw new EntriesFailed(lastFailure || 'not in the answer');
            },
            {
              maxAttempts,
              baseDelayMs,
              maxDelayMs,
              // Before anything was accepted, a failed call is the whole batch's (the SDK retried it).
              retryable: (error) => error instanceof EntriesFailed || (accepted && isTransient(error)),
            },
          );
        } catch (error) {
          if (!(error instanceof EntriesFailed)) {
            if (!accepted) throw wholeCallError(error, tries);
            lastFailure = describe(error);
          }
          const why = isTransient(error) || error instanceof EntriesFailed ? 'failed' : 'refused';
          for (const entry of remaining) {
            results[entry.index] = {
              status: 'rejected',
              reason: boundReason(
                `SNS ${why} the message (${lastFailure}) after ${tries} ${tries === 1 ? 'try' : 'tries'}`,
              ),
            };
          }
        }
      }
      return results.map((r) => r ?? { status: 'rejected', reason: 'SNS gave no answer for the message' });
    },
  };
}

/** The entry of one message: its JSON, its attributes, and its index in the batch as `Id`. */
function entryOf(batch: ChannelBatch, message: ChannelMessage, index: number): PublishBatchRequestEntry {
  const payload: SnsMessage = {
    type: 'campaign.message',
    appId: batch.appId,
    campaignId: batch.campaignId,
    idempotencyKey: message.idempotencyKey,
    userId: message.userId,
    title: message.title,
    body: message.body,
  };
  return {
    Id: String(index),
    Message: JSON.stringify(payload),
    MessageAttributes: {
      appId: { DataType: 'String', StringValue: batch.appId },
      campaignId: { DataType: 'String', StringValue: batch.campaignId },
    },
  };
}

/** The whole call failed before SNS accepted anything: transient or permanent for every message. */
function wholeCallError(error: unknown, tries: number): Error {
  const summary = `SNS PublishBatch failed (${describe(error)})`;
  return isTransient(error)
    ? new TransientDeliveryError(summary, { cause: error, attempts: tries, summary })
    : new PermanentDeliveryError(summary, { cause: error, attempts: tries, summary });
}
