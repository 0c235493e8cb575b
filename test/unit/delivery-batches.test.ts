import { describe, expect, it } from 'vitest';
import {
  type DeliveryBatchHeader,
  DeliveryBatchPacker,
  type DeliveryRecipient,
  deliveryIdOf,
  groupSendBatches,
  InvalidDeliveryBatchError,
  MESSAGE_MAX_BYTES,
  MESSAGE_MAX_RECIPIENTS,
  packDeliveryBatches,
  parseDeliveryBatch,
  RecipientTooLargeError,
  SendBatchGrouper,
  SQS_MAX_BYTES,
} from '#shared/domain/delivery-batches.ts';

const campaign: DeliveryBatchHeader = {
  kind: 'campaign',
  appId: 'app1',
  campaignId: 'cmp_1',
  templateId: 'tpl_1',
};
const notification: DeliveryBatchHeader = {
  kind: 'notification',
  appId: 'app1',
  notificationId: 'ntf_1',
  templateId: 'tpl_1',
};

function recipients(count: number, variables: DeliveryRecipient['variables'] = { name: 'Ada' }) {
  return Array.from({ length: count }, (_, i) => ({ userId: `user-${i}`, variables }));
}

const bytes = (body: string) => Buffer.byteLength(body);

describe('packDeliveryBatches', () => {
  it('writes a versioned campaign body with the recipients last', () => {
    const [body, ...rest] = [...packDeliveryBatches(campaign, recipients(2))];
    expect(rest).toEqual([]);
    expect(JSON.parse(body ?? '')).toEqual({
      v: 1,
      kind: 'campaign',
      appId: 'app1',
      campaignId: 'cmp_1',
      templateId: 'tpl_1',
      recipients: [
        { userId: 'user-0', variables: { name: 'Ada' } },
        { userId: 'user-1', variables: { name: 'Ada' } },
      ],
    });
    expect(body).toBe(JSON.stringify(JSON.parse(body ?? '')));
  });

  it('writes a notification body with notificationId instead of campaignId', () => {
    const [body] = [...packDeliveryBatches(notification, recipients(1))];
    const parsed = JSON.parse(body ?? '');
    expect(parsed.kind).toBe('notification');
    expect(parsed.notificationId).toBe('ntf_1');
    expect(parsed).not.toHaveProperty('campaignId');
  });

  it('keeps only userId and variables of each recipient', () => {
    const extra = { userId: 'u', variables: {}, status: 'queued', appId: 'x' } as DeliveryRecipient;
    const [body] = [...packDeliveryBatches(campaign, [extra])];
    expect(JSON.parse(body ?? '').recipients).toEqual([{ userId: 'u', variables: {} }]);
  });

  it('puts at most 100 recipients in a message by default, in order', () => {
    const bodies = [...packDeliveryBatches(campaign, recipients(250))];
    const counts = bodies.map((b) => JSON.parse(b).recipients.length);
    expect(MESSAGE_MAX_RECIPIENTS).toBe(100);
    expect(counts).toEqual([100, 100, 50]);
    const ids = bodies.flatMap((b) => JSON.parse(b).recipients.map((r: DeliveryRecipient) => r.userId));
    expect(ids).toEqual(recipients(250).map((r) => r.userId));
  });

  it('honours a smaller recipient limit', () => {
    expect([...packDeliveryBatches(campaign, recipients(7), { maxRecipients: 3 })]).toHaveLength(3);
  });

  it('yields nothing for no recipients', () => {
    expect([...packDeliveryBatches(campaign, [])]).toEqual([]);
  });

  it('keeps every body within the byte limit, measured in UTF-8 bytes', () => {
    const wide = { text: 'ü€😀'.repeat(40), n: 1.25, ok: true };
    const maxBytes = 2000;
    const bodies = [...packDeliveryBatches(campaign, recipients(100, wide), { maxBytes })];
    expect(bodies.length).toBeGreaterThan(1);
    for (const body of bodies) expect(bytes(body)).toBeLessThanOrEqual(maxBytes);
    // Packed tight: adding the next body's first recipient would have overflowed.
    const first = JSON.parse(bodies[0] ?? '');
    const second = JSON.parse(bodies[1] ?? '');
    first.recipients.push(second.recipients[0]);
    expect(bytes(JSON.stringify(first))).toBeGreaterThan(maxBytes);
    expect(bodies.flatMap((b) => JSON.parse(b).recipients)).toHaveLength(100);
  });

  it('fills a message exactly to the limit when the sizes meet it', () => {
    const one = JSON.stringify({ ...campaign, v: 1, recipients: [{ userId: 'user-0', variables: {} }] });
    const [exact] = [...packDeliveryBatches(campaign, recipients(1, {}), { maxBytes: bytes(one) })];
    expect(bytes(exact ?? '')).toBe(bytes(one));
  });

  it('keeps default-size bodies under 240 KiB with large variables', () => {
    const big = { blob: 'x'.repeat(10_000) };
    const bodies = [...packDeliveryBatches(campaign, recipients(100, big))];
    expect(bodies.length).toBeGreaterThan(1);
    for (const body of bodies) expect(bytes(body)).toBeLessThanOrEqual(MESSAGE_MAX_BYTES);
  });

  it('throws a RecipientTooLargeError naming a recipient that fits in no message', () => {
    const packer = new DeliveryBatchPacker(campaign, { maxBytes: 500 });
    expect(packer.add({ userId: 'small', variables: {} })).toBeUndefined();
    let caught: unknown;
    try {
      packer.add({ userId: 'huge', variables: { blob: 'x'.repeat(600) } });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(RecipientTooLargeError);
    expect((caught as RecipientTooLargeError).userId).toBe('huge');
    expect((caught as Error).message).toMatch(/'huge'.*over the 500-byte limit/);
    // The packer is still usable: what was added before is kept.
    expect(JSON.parse(packer.flush() ?? '').recipients).toEqual([{ userId: 'small', variables: {} }]);
  });

  it('escapes the characters SQS refuses, keeping the values intact', () => {
    const odd = { s: 'a\uFFFEb\uFFFFc\u0000d\uD800e' };
    const [body] = [...packDeliveryBatches(campaign, [{ userId: 'u', variables: odd }])];
    // SQS allows #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
    const allowed = (cp: number) =>
      cp === 0x9 ||
      cp === 0xa ||
      cp === 0xd ||
      (cp >= 0x20 && cp <= 0xd7ff) ||
      (cp >= 0xe000 && cp <= 0xfffd) ||
      (cp >= 0x10000 && cp <= 0x10ffff);
    const refused = [...(body ?? '')].map((c) => c.codePointAt(0) ?? 0).filter((cp) => !allowed(cp));
    expect(refused).toEqual([]);
    expect(parseDeliveryBatch(body ?? '').recipients[0]?.variables).toEqual(odd);
  });

  it('refuses a header or a recipient the consumer could not parse', () => {
    expect(() => new DeliveryBatchPacker({ ...campaign, appId: '' } as DeliveryBatchHeader)).toThrow(
      /Invalid delivery message header: appId/,
    );
    expect(() => new DeliveryBatchPacker({ kind: 'email' } as unknown as DeliveryBatchHeader)).toThrow(
      RangeError,
    );
    expect(() => new DeliveryBatchPacker(campaign).add({ userId: '', variables: {} })).toThrow(/userId/);
  });

  it('rejects limits SQS would refuse', () => {
    expect(() => new DeliveryBatchPacker(campaign, { maxBytes: SQS_MAX_BYTES + 1 })).toThrow(RangeError);
    expect(() => new DeliveryBatchPacker(campaign, { maxRecipients: 0 })).toThrow(RangeError);
  });

  it('packs 100,000 recipients into bodies that all parse back', () => {
    const all = recipients(100_000, { name: 'Ada Lovelace', count: 3, vip: false });
    const bodies = [...packDeliveryBatches(campaign, all)];
    expect(bodies).toHaveLength(1000);
    let total = 0;
    for (const body of bodies) total += parseDeliveryBatch(body).recipients.length;
    expect(total).toBe(100_000);
  });
});

describe('DeliveryBatchPacker', () => {
  it('returns a closed body when a recipient starts a new message, and the rest on flush', () => {
    const packer = new DeliveryBatchPacker(campaign, { maxRecipients: 2 });
    const [a, b, c] = recipients(3);
    expect(packer.add(a as DeliveryRecipient)).toBeUndefined();
    expect(packer.add(b as DeliveryRecipient)).toBeUndefined();
    const closed = packer.add(c as DeliveryRecipient);
    expect(JSON.parse(closed ?? '').recipients.map((r: DeliveryRecipient) => r.userId)).toEqual([
      'user-0',
      'user-1',
    ]);
    expect(JSON.parse(packer.flush() ?? '').recipients).toHaveLength(1);
    expect(packer.flush()).toBeUndefined();
  });
});

describe('groupSendBatches', () => {
  it('puts at most 10 entries in a call, with deterministic ids in order', () => {
    const bodies = Array.from({ length: 23 }, (_, i) => `body-${i}`);
    const calls = [...groupSendBatches(bodies)];
    expect(calls.map((c) => c.length)).toEqual([10, 10, 3]);
    expect(calls.flat().map((e) => e.Id)).toEqual(bodies.map((_, i) => `m${i}`));
    expect(calls.flat().map((e) => e.MessageBody)).toEqual(bodies);
    expect([...groupSendBatches(bodies)]).toEqual(calls);
  });

  it('keeps the bodies of a call within 256 KiB in total', () => {
    const body = 'x'.repeat(100 * 1024);
    const calls = [...groupSendBatches([body, body, body, body, body])];
    expect(calls.map((c) => c.length)).toEqual([2, 2, 1]);
    for (const call of calls) {
      expect(call.reduce((sum, e) => sum + bytes(e.MessageBody), 0)).toBeLessThanOrEqual(SQS_MAX_BYTES);
    }
  });

  it('starts a new call when the next body would push the total over 256 KiB', () => {
    const large = 'x'.repeat(MESSAGE_MAX_BYTES);
    const calls = [...groupSendBatches(['a', large, large, 'b'])];
    expect(calls.map((c) => c.map((e) => e.Id))).toEqual([
      ['m0', 'm1'],
      ['m2', 'm3'],
    ]);
  });

  it('uses an id prefix when given one', () => {
    expect([...groupSendBatches(['a'], { idPrefix: 'p3-' })][0]?.[0]?.Id).toBe('p3-0');
  });

  it('refuses a body over the call limit and settings SQS would refuse', () => {
    expect(() => new SendBatchGrouper().add('x'.repeat(SQS_MAX_BYTES + 1))).toThrow(/over the 262144-byte/);
    expect(() => new SendBatchGrouper({ maxEntries: 11 })).toThrow(RangeError);
    expect(() => new SendBatchGrouper({ idPrefix: 'bad id' })).toThrow(RangeError);
  });

  it('carries packed campaign messages end to end', () => {
    const bodies = packDeliveryBatches(campaign, recipients(2500));
    const calls = [...groupSendBatches(bodies)];
    expect(calls.map((c) => c.length)).toEqual([10, 10, 5]);
  });
});

describe('parseDeliveryBatch', () => {
  it('parses a packed body into the typed message', () => {
    const [body] = [...packDeliveryBatches(campaign, recipients(1, { n: 2, ok: true, s: 'x' }))];
    const message = parseDeliveryBatch(body ?? '');
    expect(message.kind).toBe('campaign');
    expect(deliveryIdOf(message)).toBe('cmp_1');
    expect(message.recipients[0]).toEqual({ userId: 'user-0', variables: { n: 2, ok: true, s: 'x' } });
  });

  it('gives the notification id of a one-call send', () => {
    const [body] = [...packDeliveryBatches(notification, recipients(1))];
    expect(deliveryIdOf(parseDeliveryBatch(body ?? ''))).toBe('ntf_1');
  });

  it.each([
    ['not JSON', '{oops', /not JSON/],
    ['an unknown version', JSON.stringify({ v: 2, kind: 'campaign' }), /v:/],
    ['an unknown kind', JSON.stringify({ v: 1, kind: 'email' }), /kind/],
    [
      'a campaign without campaignId',
      JSON.stringify({ v: 1, kind: 'campaign', appId: 'a', templateId: 't', recipients: [] }),
      /campaignId/,
    ],
    [
      'no recipients',
      JSON.stringify({
        v: 1,
        kind: 'campaign',
        appId: 'a',
        campaignId: 'c',
        templateId: 't',
        recipients: [],
      }),
      /recipients/,
    ],
    [
      'a variable that is an object',
      JSON.stringify({
        v: 1,
        kind: 'campaign',
        appId: 'a',
        campaignId: 'c',
        templateId: 't',
        recipients: [{ userId: 'u', variables: { x: {} } }],
      }),
      /recipients\.0\.variables\.x/,
    ],
  ])('rejects %s as an InvalidDeliveryBatchError', (_label, body, message) => {
    expect(() => parseDeliveryBatch(body)).toThrow(InvalidDeliveryBatchError);
    expect(() => parseDeliveryBatch(body)).toThrow(message);
  });
});
