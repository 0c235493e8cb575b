/**
 * Delivery messages: batches of recipients on the SQS delivery queue (docs/design.md,
 * "Batches on the queue").
 *
 * A message body is the JSON of
 * `{ v: 1, kind: 'campaign', appId, campaignId, templateId, recipients: [{ userId, variables }] }`
 * (or `kind: 'notification'` with `notificationId` for a one-call send). The producer
 * packs recipients into bodies of at most `maxBytes` (UTF-8, measured with
 * `Buffer.byteLength`) and `maxRecipients` each, then groups the bodies into
 * `SendMessageBatch` calls of at most 10 entries and 256 KiB in total, as SQS requires.
 * The consumer parses a body with `parseDeliveryBatch` before touching it.
 *
 * The message carries no rendered text: the consumer loads the template (approved
 * templates never change) and renders each recipient, so a message stays small.
 */
import { z } from 'zod';
import type { VariableValue } from '#shared/domain/model.ts';
import { AppError } from '#shared/errors.ts';

/** SQS's limit on a message, and on the sum of the bodies of one `SendMessageBatch`. */
export const SQS_MAX_BYTES = 256 * 1024;
/** SQS's limit on the entries of one `SendMessageBatch`. */
export const SQS_BATCH_MAX_ENTRIES = 10;
/** Default limit on a message body: under `SQS_MAX_BYTES`, leaving room for attributes. */
export const MESSAGE_MAX_BYTES = 240 * 1024;
/** Default limit on the recipients of one message (one consumer invocation's work per message). */
export const MESSAGE_MAX_RECIPIENTS = 100;

const variableValue = z.union([z.string(), z.number(), z.boolean()]);

const deliveryRecipientSchema = z.object({
  userId: z.string().min(1),
  variables: z.record(z.string(), variableValue),
});

const id = z.string().min(1);

const campaignBatchSchema = z.object({
  v: z.literal(1),
  kind: z.literal('campaign'),
  appId: id,
  campaignId: id,
  templateId: id,
  recipients: z.array(deliveryRecipientSchema).min(1),
});

const notificationBatchSchema = z.object({
  v: z.literal(1),
  kind: z.literal('notification'),
  appId: id,
  notificationId: id,
  templateId: id,
  recipients: z.array(deliveryRecipientSchema).min(1),
});

/** The schema of a delivery message body, as the consumer parses it. */
export const deliveryBatchSchema = z.discriminatedUnion('kind', [
  campaignBatchSchema,
  notificationBatchSchema,
]);

/** A recipient as it travels on the queue. */
export interface DeliveryRecipient {
  userId: string;
  variables: Record<string, VariableValue>;
}

export type CampaignDeliveryBatch = z.infer<typeof campaignBatchSchema>;
export type NotificationDeliveryBatch = z.infer<typeof notificationBatchSchema>;
/** A delivery message body: one batch of recipients of a campaign or a one-call send. */
export type DeliveryBatch = CampaignDeliveryBatch | NotificationDeliveryBatch;

/** Everything of a message but its version and recipients: what the producer states once. */
export type DeliveryBatchHeader =
  | Omit<CampaignDeliveryBatch, 'v' | 'recipients'>
  | Omit<NotificationDeliveryBatch, 'v' | 'recipients'>;

/** The campaign or notification id of a message: what its recipients' statuses hang off. */
export function deliveryIdOf(message: DeliveryBatch | DeliveryBatchHeader): string {
  return message.kind === 'campaign' ? message.campaignId : message.notificationId;
}

/** A message body that does not parse: a poison message, never worth retrying. */
export class InvalidDeliveryBatchError extends AppError {}

/** Parses a message body at the consumer edge; throws `InvalidDeliveryBatchError`. */
export function parseDeliveryBatch(body: string): DeliveryBatch {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw new InvalidDeliveryBatchError('Delivery message body is not JSON.', { cause: error });
  }
  const parsed = deliveryBatchSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
      .join('; ');
    throw new InvalidDeliveryBatchError(`Invalid delivery message: ${problems}`, { cause: parsed.error });
  }
  return parsed.data;
}

/** One recipient whose JSON alone does not fit in a message of the allowed size. */
export class RecipientTooLargeError extends AppError {
  readonly userId: string;
  readonly bytes: number;
  readonly maxBytes: number;
  constructor(userId: string, bytes: number, maxBytes: number) {
    super(
      `Recipient '${userId}' needs a ${bytes}-byte delivery message, over the ${maxBytes}-byte limit; shorten its variables (set maxLength in the template's variableSchema).`,
    );
    this.userId = userId;
    this.bytes = bytes;
    this.maxBytes = maxBytes;
  }
}

export interface PackOptions {
  /** Largest body in bytes (default `MESSAGE_MAX_BYTES`, at most `SQS_MAX_BYTES`). */
  maxBytes?: number;
  /** Most recipients per body (default `MESSAGE_MAX_RECIPIENTS`). */
  maxRecipients?: number;
}

function headerObject(header: DeliveryBatchHeader): Record<string, unknown> {
  // Spelled out so the body holds exactly these keys, in this order, `recipients` last.
  return header.kind === 'campaign'
    ? {
        v: 1,
        kind: header.kind,
        appId: header.appId,
        campaignId: header.campaignId,
        templateId: header.templateId,
        recipients: [],
      }
    : {
        v: 1,
        kind: header.kind,
        appId: header.appId,
        notificationId: header.notificationId,
        templateId: header.templateId,
        recipients: [],
      };
}

const CLOSE = ']}';

/**
 * SQS refuses a body containing U+FFFE or U+FFFF (JSON.stringify already escapes
 * control characters and lone surrogates). They can only occur inside JSON strings,
 * where the `\uXXXX` escape means the same text.
 */
function toSqsSafe(json: string): string {
  return json.replace(/[\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

/**
 * Packs recipients into message bodies one at a time, so a producer reading pages of
 * recipients never holds more than one message. Sizes are counted incrementally: each
 * recipient is serialised once.
 */
export class DeliveryBatchPacker {
  readonly #prefix: string;
  readonly #fixedBytes: number;
  readonly #maxBytes: number;
  readonly #maxRecipients: number;
  #parts: string[] = [];
  #bytes = 0;

  constructor(header: DeliveryBatchHeader, options: PackOptions = {}) {
    this.#maxBytes = options.maxBytes ?? MESSAGE_MAX_BYTES;
    this.#maxRecipients = options.maxRecipients ?? MESSAGE_MAX_RECIPIENTS;
    if (!Number.isInteger(this.#maxBytes) || this.#maxBytes < 1 || this.#maxBytes > SQS_MAX_BYTES) {
      throw new RangeError(`maxBytes must be an integer from 1 to ${SQS_MAX_BYTES}, got ${this.#maxBytes}`);
    }
    if (!Number.isInteger(this.#maxRecipients) || this.#maxRecipients < 1) {
      throw new RangeError(`maxRecipients must be a positive integer, got ${this.#maxRecipients}`);
    }
    const object = headerObject(header);
    // A bad header would make every message poison; refuse it here, where the bug is.
    const check = deliveryBatchSchema.safeParse({ ...object, recipients: [{ userId: 'x', variables: {} }] });
    if (!check.success) {
      const problems = check.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      throw new RangeError(`Invalid delivery message header: ${problems}`);
    }
    const empty = JSON.stringify(object);
    // `{...,"recipients":[]}` without the closing `]}`.
    this.#prefix = empty.slice(0, -CLOSE.length);
    this.#fixedBytes = Buffer.byteLength(this.#prefix) + CLOSE.length;
  }

  /**
   * Adds a recipient. Returns the body of the message it closed, when adding it would
   * have gone over a limit. Throws `RecipientTooLargeError` when it fits in no message.
   */
  add(recipient: DeliveryRecipient): string | undefined {
    // One recipient the consumer cannot parse would fail its whole message.
    if (typeof recipient.userId !== 'string' || recipient.userId === '') {
      throw new RangeError(
        `A recipient's userId must be a non-empty string, got ${JSON.stringify(recipient.userId)}`,
      );
    }
    const json = toSqsSafe(
      JSON.stringify({ userId: recipient.userId, variables: recipient.variables ?? {} }),
    );
    const bytes = Buffer.byteLength(json);
    if (this.#fixedBytes + bytes > this.#maxBytes) {
      throw new RecipientTooLargeError(recipient.userId, this.#fixedBytes + bytes, this.#maxBytes);
    }
    let closed: string | undefined;
    const separator = this.#parts.length > 0 ? 1 : 0;
    if (
      this.#parts.length >= this.#maxRecipients ||
      this.#fixedBytes + this.#bytes + separator + bytes > this.#maxBytes
    ) {
      closed = this.flush();
    }
    this.#bytes += (this.#parts.length > 0 ? 1 : 0) + bytes;
    this.#parts.push(json);
    return closed;
  }

  /** The body of the message being filled, if it has any recipient; starts a new one. */
  flush(): string | undefined {
    if (this.#parts.length === 0) return undefined;
    const body = `${this.#prefix}${this.#parts.join(',')}${CLOSE}`;
    this.#parts = [];
    this.#bytes = 0;
    return body;
  }
}

/** Packs `recipients` into message bodies (see `DeliveryBatchPacker`). */
export function* packDeliveryBatches(
  header: DeliveryBatchHeader,
  recipients: Iterable<DeliveryRecipient>,
  options?: PackOptions,
): Generator<string> {
  const packer = new DeliveryBatchPacker(header, options);
  for (const recipient of recipients) {
    const body = packer.add(recipient);
    if (body !== undefined) yield body;
  }
  const last = packer.flush();
  if (last !== undefined) yield last;
}

/** One entry of a `SendMessageBatch` call. */
export interface SendBatchEntry {
  Id: string;
  MessageBody: string;
}

export interface GroupOptions {
  /** Most entries per call (default and maximum 10). */
  maxEntries?: number;
  /** Most body bytes per call (default and maximum 256 KiB). */
  maxBytes?: number;
  /** Entry ids are `<idPrefix><n>`, n counting bodies from 0 (default `m`). */
  idPrefix?: string;
}

/**
 * Groups message bodies into `SendMessageBatch` calls one body at a time. Entry ids are
 * deterministic (`m0`, `m1`, … in the order bodies were added), so a caller can match
 * the `Failed` entries of a response to its bodies and resend just those.
 */
export class SendBatchGrouper {
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #idPrefix: string;
  #entries: SendBatchEntry[] = [];
  #bytes = 0;
  #next = 0;

  constructor(options: GroupOptions = {}) {
    this.#maxEntries = options.maxEntries ?? SQS_BATCH_MAX_ENTRIES;
    this.#maxBytes = options.maxBytes ?? SQS_MAX_BYTES;
    this.#idPrefix = options.idPrefix ?? 'm';
    if (
      !Number.isInteger(this.#maxEntries) ||
      this.#maxEntries < 1 ||
      this.#maxEntries > SQS_BATCH_MAX_ENTRIES
    ) {
      throw new RangeError(`maxEntries must be an integer from 1 to ${SQS_BATCH_MAX_ENTRIES}`);
    }
    if (!Number.isInteger(this.#maxBytes) || this.#maxBytes < 1 || this.#maxBytes > SQS_MAX_BYTES) {
      throw new RangeError(`maxBytes must be an integer from 1 to ${SQS_MAX_BYTES}`);
    }
    if (!/^[A-Za-z0-9_-]{0,60}$/.test(this.#idPrefix)) {
      throw new RangeError('idPrefix must be at most 60 letters, digits, hyphens or underscores');
    }
  }

  /** Adds a body; returns the entries of the call it closed, if adding it would go over a limit. */
  add(body: string): SendBatchEntry[] | undefined {
    const bytes = Buffer.byteLength(body);
    if (bytes > this.#maxBytes) {
      throw new RangeError(`A ${bytes}-byte message body is over the ${this.#maxBytes}-byte batch limit.`);
    }
    let closed: SendBatchEntry[] | undefined;
    if (this.#entries.length >= this.#maxEntries || this.#bytes + bytes > this.#maxBytes)
      closed = this.flush();
    this.#entries.push({ Id: `${this.#idPrefix}${this.#next}`, MessageBody: body });
    this.#next += 1;
    this.#bytes += bytes;
    return closed;
  }

  /** The entries of the call being filled, if any; starts a new one. */
  flush(): SendBatchEntry[] | undefined {
    if (this.#entries.length === 0) return undefined;
    const entries = this.#entries;
    this.#entries = [];
    this.#bytes = 0;
    return entries;
  }
}

/** Groups `bodies` into `SendMessageBatch` entry lists (see `SendBatchGrouper`). */
export function* groupSendBatches(
  bodies: Iterable<string>,
  options?: GroupOptions,
): Generator<SendBatchEntry[]> {
  const grouper = new SendBatchGrouper(options);
  for (const body of bodies) {
    const entries = grouper.add(body);
    if (entries !== undefined) yield entries;
  }
  const last = grouper.flush();
  if (last !== undefined) yield last;
}
