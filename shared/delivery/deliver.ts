/**
 * Deliver-a-message: the consumer's core, pure over its ports (docs/delivery.md, "The
 * deliver consumer"). A delivery message holds chunks (`chunksOf`); each chunk is one
 * claim, one channel call and one outcome:
 *
 * 1. **Claim** the chunk's ledger item (one conditional write, only while the campaign is
 *    `sending` and only if the chunk has no item): after a cancel commits, no chunk is
 *    claimed, so delivery stops within the chunks already claimed.
 * 2. **Deliver**: render each recipient (a missing variable fails that recipient), then
 *    one `deliverBatch` call for the chunk.
 * 3. **Settle**: the ledger item `claimed` → `settling`, with every recipient's outcome.
 * 4. **Project and count**: the outcomes onto the recipient items (batched puts), then the
 *    ledger `settling` → `done` and the counters, in one transaction.
 *
 * A paced destination (docs/delivery.md, "Pacing") adds a step between 1 and 2: the
 * chunk's tokens are taken from the destination's bucket, waiting for them in process up to
 * `PACE_MAX_WAIT_MS`. A chunk that would wait longer releases its claim, and it and the
 * message's later chunks go back on the queue as a new message delayed until the bucket
 * has tokens again, so waiting never counts as a failed receive. A `429` or `Retry-After`
 * during the call slows the bucket down.
 *
 * Whoever finds a chunk `settling` finishes steps 4 (idempotent); `done` needs nothing.
 * A chunk still `claimed` by a receive that is certainly gone (an earlier receive of the
 * same message, or any claim whose lease has run out) was left between its claim and its
 * outcome: the user may or may not have the message, so it is never sent again, and its
 * recipients end `failed` with `DELIVERY_OUTCOME_UNKNOWN`. A transient channel failure
 * releases the claim for the message's next receive; on the last receive it fails the
 * chunk instead. A cancelled campaign's chunks are settled `skipped` on the same ledger
 * items, so a chunk is delivered, or skipped, never both.
 */
import { campaignOutcome } from '#shared/domain/campaign-outcome.ts';
import {
  boundReason,
  type ChannelMessage,
  type ChannelResult,
  idempotencyKeyOf,
  isPermanentDeliveryFailure,
  loggableReason,
} from '#shared/domain/channel.ts';
import {
  chunksOf,
  type DeliveryBatch,
  type DeliveryChunk,
  type DeliveryRecipient,
  deliveryIdOf,
} from '#shared/domain/delivery-batches.ts';
import type { PaceLimit } from '#shared/domain/destinations.ts';
import type { Template } from '#shared/domain/model.ts';
import { render } from '#shared/domain/render.ts';
import { storeAppId } from '#shared/domain/sending.ts';
import type { ChunkOutcome, ChunkRef, CountDelta, DeliverPorts, LedgerEntry } from './ports.ts';

/** The error of a recipient whose delivery a stopped receive left unknown. */
export const DELIVERY_OUTCOME_UNKNOWN =
  'Delivery outcome unknown: the consumer stopped after claiming this recipient and before the channel answered, so the user may or may not have received the message; it is not sent again, so that nobody gets it twice.';

/** Past a claim's lease, by this much, its owner has certainly stopped (clock skew between hosts). */
export const LEASE_MARGIN_MS = 5_000;
/**
 * How long a receive waits for a chunk another receive is delivering (the same chunk in a
 * duplicate message, received at the same time) before handing its message back: one
 * channel call usually ends well within it.
 */
export const OWNER_WAIT_MS = 5_000;
/**
 * Longest wait for a paced chunk's tokens inside the function; a longer one puts the
 * chunk back on the queue, delayed, instead of keeping the function asleep.
 */
export const PACE_MAX_WAIT_MS = 2_000;
/**
 * A paced chunk woken more than this after its slot takes a new one rather than send
 * late, at most `PACE_MAX_TAKES` times (then it sends).
 */
export const PACE_LATE_MS = 250;
export const PACE_MAX_TAKES = 3;
/** SQS's longest message delay. */
export const MAX_REQUEUE_DELAY_SECONDS = 900;

export interface DeliverOptions {
  /** Receives after which a failing chunk is given up (the queue's maxReceiveCount). */
  maxReceiveCount: number;
  /**
   * No new claim with less time left than this: a claimed chunk's channel call, with the
   * channel's own retries, must end before the function times out.
   */
  claimCutoffMs: number;
  /** The recipient shard of a user id (`shardOf` with the table's shard count). */
  shardOf(userId: string): number;
  /** Test seam: runs when a chunk is settled, before it is counted (a crash there). */
  beforeCounting?: (ref: ChunkRef) => void | Promise<void>;
}

/** One received delivery message. */
export interface ReceivedMessage {
  batch: DeliveryBatch;
  messageId: string;
  /** SQS's ApproximateReceiveCount: 1 on the first receive. */
  receiveCount: number;
  /** Milliseconds left before the function times out. */
  timeLeft(): number;
}

/** What one receive of a message did. */
export interface MessageResult {
  /** Recipients this receive counted, by outcome. */
  counted: { sent: number; failed: number; skipped: number };
  /** Chunks delivered through the channel by this receive. */
  channelCalls: number;
  /**
   * Set when the message must be reported failed: a chunk is left for its next receive,
   * or was given up on its last (it then goes to the dead-letter queue). Why, fit for the logs.
   */
  retry?: string;
  /** Recipients put back on the queue to wait for a paced destination's tokens, and for how long. */
  requeued?: { recipients: number; delaySeconds: number };
}

type ChunkResult =
  /** `gaveUp`: settled as failed on the message's last receive; the message still goes to the DLQ. */
  | { done: true; counted?: CountDelta; gaveUp?: string }
  | { done: false; retry: string }
  /** Not claimed: the destination's bucket has no tokens for it before `retryAt` (epoch ms). */
  | { done: false; retryAt: number };

const failAll = (chunk: DeliveryChunk, error: string): ChunkOutcome[] =>
  chunk.recipients.map(({ userId }) => ({ userId, status: 'failed', error }));
/** Every recipient of a chunk skipped: what a cancel makes of a chunk nobody claimed. */
export const skipAll = (chunk: DeliveryChunk): ChunkOutcome[] =>
  chunk.recipients.map(({ userId }) => ({ userId, status: 'skipped' }));
const gaveUp = (receives: number, reason: string) => `gave up after ${receives} attempts: ${reason}`;

/** The counters' change when `outcomes` are counted, leaving `from`. */
export function countDelta(outcomes: readonly ChunkOutcome[], from: 'queued' | 'pending'): CountDelta {
  const delta: CountDelta = { [from]: -outcomes.length };
  for (const o of outcomes) delta[o.status] = (delta[o.status] ?? 0) + 1;
  return delta;
}

/** Builds the deliver core over `ports`. */
export function createDeliverer(ports: DeliverPorts, options: DeliverOptions) {
  const refOf = (storeId: string, campaignId: string, chunk: DeliveryChunk): ChunkRef => ({
    storeId,
    campaignId,
    chunkId: chunk.id,
    shard: options.shardOf(chunk.id),
  });

  /** Step 4: project a settled chunk's outcomes, then count it (once, whoever gets there). */
  async function finish(
    ref: ChunkRef,
    chunk: DeliveryChunk,
    outcomes: readonly ChunkOutcome[],
    from: 'queued' | 'pending',
  ): Promise<{ done: true; counted?: CountDelta }> {
    const variables = new Map(chunk.recipients.map((r) => [r.userId, r.variables]));
    await ports.recipients.project(
      ref,
      outcomes.map((o) => ({ ...o, variables: variables.get(o.userId) ?? {} })),
    );
    await options.beforeCounting?.(ref);
    const delta = countDelta(outcomes, from);
    return (await ports.ledger.count(ref, delta)) ? { done: true, counted: delta } : { done: true };
  }

  /** A chunk that already has a ledger item: finish it, wait for its owner, or take it over. */
  async function resume(
    ref: ChunkRef,
    chunk: DeliveryChunk,
    found: LedgerEntry | undefined,
    message: Pick<ReceivedMessage, 'messageId' | 'receiveCount' | 'timeLeft'> | undefined,
  ): Promise<ChunkResult> {
    let entry = found;
    const waitUntil =
      ports.clock.now() +
      Math.min(OWNER_WAIT_MS, Math.max(0, (message?.timeLeft() ?? 0) - options.claimCutoffMs));
    for (let moves = 0, delay = 25; moves < 3; ) {
      if (!entry) return { done: false, retry: 'chunk released by another receive' };
      if (entry.state === 'done') return { done: true };
      if (entry.state === 'settling') return finish(ref, chunk, entry.outcomes ?? [], entry.from ?? 'queued');
      const owner = entry.owner;
      const gone =
        owner !== undefined &&
        ((message !== undefined &&
          owner.messageId === message.messageId &&
          owner.receiveCount < message.receiveCount) ||
          ports.clock.now() > (entry.leaseUntil ?? Number.POSITIVE_INFINITY) + LEASE_MARGIN_MS);
      if (!gone || owner === undefined) {
        // Being delivered by a live receive: wait a little for its outcome, then hand the message back.
        if (ports.clock.now() + delay > waitUntil)
          return { done: false, retry: 'chunk being delivered by another receive' };
        await ports.sleep(delay);
        delay = Math.min(delay * 2, 500);
        entry = await ports.ledger.read(ref);
        continue;
      }
      const outcomes = failAll(chunk, DELIVERY_OUTCOME_UNKNOWN);
      const taken = await ports.ledger.settleClaimed(ref, owner, outcomes, ports.newToken());
      if (taken.settled) return finish(ref, chunk, outcomes, 'queued');
      entry = taken.entry;
      moves += 1;
    }
    throw new Error(`delivery ledger: chunk '${ref.chunkId}' kept changing under this receive`);
  }

  /**
   * Settles a chunk that is not delivered (a cancel, a last receive out of time) unless
   * it has a ledger item already; `from` is where its recipients are counted from.
   */
  async function settleUndelivered(
    ref: ChunkRef,
    chunk: DeliveryChunk,
    outcomes: ChunkOutcome[],
    from: 'queued' | 'pending',
    message?: Pick<ReceivedMessage, 'messageId' | 'receiveCount' | 'timeLeft'>,
  ): Promise<ChunkResult> {
    const settled = await ports.ledger.settleUnclaimed(ref, outcomes, ports.newToken(), from);
    if (settled.settled) return finish(ref, chunk, outcomes, from);
    return resume(ref, chunk, settled.entry, message);
  }

  /** Step 2: render and call the channel once; the outcomes, or why to try again later. */
  async function callChannel(
    batch: DeliveryBatch,
    campaignId: string,
    chunk: DeliveryChunk,
    template: Template,
    pace: PaceLimit | undefined,
  ): Promise<{ outcomes: ChunkOutcome[] } | { transient: string; error: unknown }> {
    const outcomes = new Map<string, ChunkOutcome>();
    const renderable: { recipient: DeliveryRecipient; message: ChannelMessage }[] = [];
    for (const recipient of chunk.recipients) {
      try {
        const rendered = render(template, recipient.variables);
        renderable.push({
          recipient,
          message: {
            userId: recipient.userId,
            title: rendered.title ?? null,
            body: rendered.body,
            idempotencyKey: idempotencyKeyOf(campaignId, recipient.userId),
          },
        });
      } catch (error) {
        outcomes.set(recipient.userId, {
          userId: recipient.userId,
          status: 'failed',
          error: boundReason((error as Error).message),
        });
      }
    }
    // The app's channel now: its own webhook, or the deployment's default.
    const channel = await ports.channels.channelFor(batch.appId);
    const size = Math.max(1, channel.maxBatchSize);
    // A paced destination's bucket slows down as soon as the far side asks (other consumers too).
    const slowing: Promise<unknown>[] = [];
    const pacer = pace && ports.pacing?.pacer;
    const onThrottle = pacer
      ? (retryAfterMs: number | undefined) => {
          slowing.push(pacer.throttled(pace, retryAfterMs));
        }
      : undefined;
    for (let i = 0; i < renderable.length; i += size) {
      const slice = renderable.slice(i, i + size);
      let results: ChannelResult[];
      try {
        results = await channel.deliverBatch({
          appId: batch.appId,
          campaignId,
          messages: slice.map((s) => s.message),
          ...(onThrottle ? { onThrottle } : {}),
        });
      } catch (error) {
        await Promise.all(slowing);
        // Nothing of this chunk reached the channel yet: it may be tried again whole.
        if (!isPermanentDeliveryFailure(error) && i === 0) return { transient: loggableReason(error), error };
        const message = (error as Error).message ?? String(error);
        const reason = boundReason(isPermanentDeliveryFailure(error) ? message : gaveUp(1, message));
        for (const { recipient } of slice)
          outcomes.set(recipient.userId, { userId: recipient.userId, status: 'failed', error: reason });
        continue;
      }
      await Promise.all(slowing);
      slice.forEach(({ recipient }, j) => {
        const result = results[j];
        outcomes.set(
          recipient.userId,
          result === undefined
            ? { userId: recipient.userId, status: 'failed', error: DELIVERY_OUTCOME_UNKNOWN }
            : result.status === 'accepted'
              ? { userId: recipient.userId, status: 'sent' }
              : { userId: recipient.userId, status: 'failed', error: boundReason(result.reason) },
        );
      });
    }
    return { outcomes: chunk.recipients.map((r) => outcomes.get(r.userId) as ChunkOutcome) };
  }

  async function deliverChunk(
    message: ReceivedMessage,
    campaignId: string,
    ref: ChunkRef,
    chunk: DeliveryChunk,
    template: () => Promise<Template>,
    pace: PaceLimit | undefined,
    onChannelCall: () => void,
  ): Promise<ChunkResult> {
    const lastReceive = message.receiveCount >= options.maxReceiveCount;
    if (message.timeLeft() < options.claimCutoffMs) {
      const why = 'out of time before delivering every chunk';
      if (!lastReceive) return { done: false, retry: why };
      const settled = await settleUndelivered(
        ref,
        chunk,
        failAll(chunk, gaveUp(message.receiveCount, why)),
        'queued',
        message,
      );
      return settled.done ? { ...settled, gaveUp: why } : settled;
    }
    const owner = {
      token: ports.newToken(),
      messageId: message.messageId,
      receiveCount: message.receiveCount,
    };
    const claim = await ports.ledger.claim(ref, owner, ports.clock.now() + message.timeLeft());
    if (!claim.claimed) {
      if ('entry' in claim) return resume(ref, chunk, claim.entry, message);
      if (claim.campaignStatus === 'cancelled') {
        return settleUndelivered(ref, chunk, skipAll(chunk), 'queued', message);
      }
      throw new Error(
        `campaign '${campaignId}' is ${claim.campaignStatus}: chunk '${chunk.id}' has no ledger item to settle`,
      );
    }
    if (pace && ports.pacing) {
      // Claimed first, so a cancel still stops every chunk not yet claimed, and a chunk
      // another receive already delivered takes no tokens.
      const maxWaitMs = Math.max(0, Math.min(PACE_MAX_WAIT_MS, message.timeLeft() - options.claimCutoffMs));
      // Grants come evenly spaced, one chunk every chunk / rate seconds: every chunk takes a
      // whole chunk's tokens (a page's short last one too), from a bucket one chunk deep, so
      // nothing bunches up at the sender. Never faster, at worst a little slower.
      const tokens = Math.max(chunk.recipients.length, message.batch.chunkSize ?? 0);
      for (let takes = 1; ; takes += 1) {
        const grant = await ports.pacing.pacer.take({ ...pace, burst: tokens }, tokens, maxWaitMs);
        if ('retryAt' in grant) {
          await ports.ledger.release(ref, owner);
          return { done: false, retryAt: grant.retryAt };
        }
        const wait = grant.at - ports.clock.now();
        if (wait > 0) await ports.sleep(wait);
        // Woken well past its slot (a stalled host): sent now, it would land beside the
        // next slot's request. Its tokens are spent; it takes a later slot instead.
        if (ports.clock.now() - grant.at <= PACE_LATE_MS || takes >= PACE_MAX_TAKES) break;
      }
    }
    const answer = await callChannel(message.batch, campaignId, chunk, await template(), pace);
    onChannelCall();
    let outcomes: ChunkOutcome[];
    let gaveUpOn: string | undefined;
    if ('transient' in answer) {
      if (!lastReceive) {
        await ports.ledger.release(ref, owner);
        return { done: false, retry: answer.transient };
      }
      const reason = (answer.error as Error)?.message ?? String(answer.error);
      outcomes = failAll(chunk, boundReason(gaveUp(message.receiveCount, reason)));
      gaveUpOn = answer.transient;
    } else {
      outcomes = answer.outcomes;
    }
    const settled = await ports.ledger.settleClaimed(ref, owner, outcomes, owner.token);
    if (!settled.settled) return resume(ref, chunk, settled.entry, message);
    const finished = await finish(ref, chunk, outcomes, 'queued');
    return gaveUpOn === undefined ? finished : { ...finished, gaveUp: gaveUpOn };
  }

  return {
    /** Delivers (or settles) every chunk of a received message; see the module comment. */
    async deliverMessage(message: ReceivedMessage): Promise<MessageResult> {
      const { batch } = message;
      const campaignId = deliveryIdOf(batch);
      const storeId = storeAppId(batch.appId, campaignId);
      let loaded: Promise<Template> | undefined;
      const template = () => {
        loaded ??= ports.templates.find(batch.appId, batch.templateId).then((t) => {
          if (!t)
            throw new Error(`template '${batch.templateId}' of ${batch.kind} '${campaignId}' not found`);
          return t;
        });
        return loaded;
      };
      const result: MessageResult = { counted: { sent: 0, failed: 0, skipped: 0 }, channelCalls: 0 };
      const pace = ports.pacing ? await ports.channels.paceFor?.(batch.appId) : undefined;
      const chunks = chunksOf(batch);
      let allDone = true;
      for (const [i, chunk] of chunks.entries()) {
        const done = await deliverChunk(
          message,
          campaignId,
          refOf(storeId, campaignId, chunk),
          chunk,
          template,
          pace,
          () => {
            result.channelCalls += 1;
          },
        );
        if (!done.done) {
          allDone = false;
          if ('retryAt' in done) {
            // This chunk and the later ones wait for tokens on the queue, as a new message.
            result.requeued = await requeue(batch, chunks.slice(i), done.retryAt);
            break;
          }
          result.retry ??= done.retry;
          continue;
        }
        if (done.gaveUp !== undefined) result.retry ??= `gave up on the last receive: ${done.gaveUp}`;
        for (const status of ['sent', 'failed', 'skipped'] as const)
          result.counted[status] += done.counted?.[status] ?? 0;
      }
      // Every chunk is counted: the campaign may be finished (whoever counted its last chunk).
      if (allDone) await finishCampaign(storeId, campaignId);
      return result;
    },

    /**
     * Projects and counts a chunk a cancel's sweep put in the ledger as skipped (never
     * put on the queue, so counted from `pending`).
     */
    async finishSwept(storeId: string, campaignId: string, chunk: DeliveryChunk): Promise<void> {
      await finish(refOf(storeId, campaignId, chunk), chunk, skipAll(chunk), 'pending');
    },

    /**
     * Settles a chunk never put on the queue (a recipient no message can carry), counted
     * from `pending`, unless it has a ledger item; then ends the campaign if it was the last.
     */
    async settleUnqueued(
      storeId: string,
      campaignId: string,
      chunk: DeliveryChunk,
      outcome: { status: 'failed'; error: string } | { status: 'skipped' },
    ): Promise<void> {
      const outcomes =
        outcome.status === 'failed' ? failAll(chunk, boundReason(outcome.error)) : skipAll(chunk);
      await settleUndelivered(refOf(storeId, campaignId, chunk), chunk, outcomes, 'pending');
      await finishCampaign(storeId, campaignId);
    },

    /** Projects and counts a chunk found `settling` with `entry` (a stopped sweep's). */
    async finishSettling(storeId: string, campaignId: string, chunk: DeliveryChunk, entry: LedgerEntry) {
      await finish(refOf(storeId, campaignId, chunk), chunk, entry.outcomes ?? [], entry.from ?? 'queued');
    },

    refOf,
  };

  /**
   * Puts `chunks` of `batch` back on the queue, delayed until `retryAt` (whole seconds, at
   * least 1, at most SQS's 900). Cut from whole chunks, the new message's chunks are the
   * same chunks, with the same ledger items.
   */
  async function requeue(batch: DeliveryBatch, chunks: readonly DeliveryChunk[], retryAt: number) {
    const wait = Math.ceil((retryAt - ports.clock.now()) / 1000);
    const delaySeconds = Math.min(MAX_REQUEUE_DELAY_SECONDS, Math.max(1, wait));
    const recipients = chunks.flatMap((c) => c.recipients);
    await (ports.pacing as NonNullable<DeliverPorts['pacing']>).requeue(
      { ...batch, recipients },
      delaySeconds,
    );
    return { recipients: recipients.length, delaySeconds };
  }

  /** Ends a `sending` campaign whose recipients are all settled (a conditional write, once). */
  async function finishCampaign(storeId: string, campaignId: string): Promise<void> {
    const progress = await ports.campaigns.progress(storeId, campaignId);
    if (progress?.status !== 'sending') return;
    const outcome = campaignOutcome(progress);
    if (outcome.finished) {
      await ports.campaigns.finish(
        storeId,
        campaignId,
        outcome.status,
        new Date(ports.clock.now()).toISOString(),
      );
    }
  }
}

export type Deliverer = ReturnType<typeof createDeliverer>;
