/**
 * The rules of a recipient are written once (shared/domain/csv-rules.ts) and followed by
 * the three paths that add one: a CSV row, an inline add (`userIds` + per-user
 * `variables`) and a one-call send (`targets` + `template.variables`). Each case here
 * goes through all three with the same values and expects the same recipient.
 */
import { describe, expect, it } from 'vitest';
import { csvLine, invalidUserIdsError, userIdProblem } from '#shared/domain/csv-rules.ts';
import { validateCsv } from '#shared/domain/csv-validate.ts';
import type { VariableSchema, VariableValue } from '#shared/domain/model.ts';
import { checkInlineVariables, describeProblem } from '#shared/domain/variables.ts';

/** What a path makes of one recipient: its stored variables, or its problems' text. */
type Outcome = { stored: Record<string, VariableValue> } | { refused: string };

async function* bytes(text: string): AsyncGenerator<Uint8Array> {
  yield Buffer.from(text);
}

/** A CSV of `user_id` and one row of `values` (each written as it would be in a cell). */
async function throughCsv(
  schema: VariableSchema,
  userId: string,
  values: Record<string, VariableValue>,
): Promise<Outcome> {
  const keys = Object.keys(values);
  const csv = csvLine(['user_id', ...keys]) + csvLine([userId, ...keys.map((k) => cellOf(values[k]))]);
  let outcome: Outcome | undefined;
  await validateCsv(bytes(csv), schema, {
    onBatch: async ([recipient]) => {
      outcome = { stored: recipient?.variables ?? {} };
    },
    onRejection: ({ reason }) => {
      outcome = { refused: reason };
    },
  });
  if (outcome === undefined) throw new Error('the CSV path neither stored nor refused the row');
  return outcome;
}

/** `-0` is written `-0` in a file, as a person would type it. */
function cellOf(value: VariableValue | undefined): string | number {
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : value;
  return String(value ?? '');
}

function outcomeOf(check: ReturnType<typeof checkInlineVariables>, userId: string): Outcome {
  if (!check.ok) return { refused: check.problems.map(describeProblem).join('; ') };
  return { stored: check.values.get(userId) ?? {} };
}

/** `POST /api/campaigns/{id}/recipients`: the values as the target's own. */
function throughInlineAdd(schema: VariableSchema, userId: string, values: Record<string, VariableValue>) {
  return outcomeOf(
    checkInlineVariables(schema, { userIds: [userId], perUser: { [userId]: values } }),
    userId,
  );
}

/** `POST /api/notifications/send`: the values as `template.variables`, shared by every target. */
function throughOneCall(schema: VariableSchema, userId: string, values: Record<string, VariableValue>) {
  return outcomeOf(checkInlineVariables(schema, { userIds: [userId], shared: values }), userId);
}

const schema: VariableSchema = {
  name: { type: 'string', maxLength: 5 },
  greeting: { type: 'string', default: 'Hi' },
  code: { type: 'string', required: true, default: 'X1' },
  points: { type: 'number' },
  note: { type: 'string' },
  other: { type: 'string', default: 'd'.repeat(61_000) },
};

describe('the same recipient through a CSV row, an inline add and a one-call send', () => {
  it.each<[string, Record<string, VariableValue>, Outcome]>([
    [
      "stores the key's default for an empty value, and leaves out an empty one without a default",
      { name: 'Ada', greeting: '', code: '', note: '' },
      { stored: { name: 'Ada', greeting: 'Hi', code: 'X1' } },
    ],
    [
      'counts maxLength in code points: 5 emoji fit 5',
      { name: '😀😀😀😀😀' },
      { stored: { name: '😀😀😀😀😀' } },
    ],
    ['stores -0 as 0', { points: -0 }, { stored: { points: 0 } }],
    [
      'counts a default that fills an empty value in the size of the recipient',
      { note: 'x'.repeat(4_000), other: '' },
      { stored: { note: 'x'.repeat(4_000), other: 'd'.repeat(61_000) } },
    ],
  ])('%s', async (_label, values, expected) => {
    expect(await throughCsv(schema, 'u1', values)).toEqual(expected);
    expect(throughInlineAdd(schema, 'u1', values)).toEqual(expected);
    expect(throughOneCall(schema, 'u1', values)).toEqual(expected);
  });

  it.each<[string, Record<string, VariableValue>, string]>([
    ['refuses a sixth emoji over maxLength 5', { name: '😀😀😀😀😀😀' }, 'at most 5 characters, got 6'],
    [
      'refuses a recipient whose values and the default filling an empty one are over 64 KiB',
      { note: 'x'.repeat(5_000), other: '' },
      'the variable values are 66000 bytes together, over the limit of 65536 bytes per recipient',
    ],
  ])('%s', async (_label, values, problem) => {
    for (const outcome of [
      await throughCsv(schema, 'u1', values),
      throughInlineAdd(schema, 'u1', values),
      throughOneCall(schema, 'u1', values),
    ]) {
      expect(outcome).toEqual({ refused: expect.stringContaining(problem) });
    }
  });
});

describe('the user_id rule on every path', () => {
  // One variable, so that a row with an empty user_id is not a blank line.
  const one: VariableSchema = { note: { type: 'string' } };
  const cases: [string, string][] = [
    ['', 'required, but empty'],
    ['a'.repeat(101), 'at most 100 characters, got 101'],
    [' u1', "only letters, digits and _ @ . : - are allowed, got ' u1'"],
    ['u😀', "only letters, digits and _ @ . : - are allowed, got 'u😀'"],
  ];

  it.each(cases)(
    'refuses %j with the same reason on a CSV row, an inline add and a one-call send',
    async (userId, problem) => {
      expect(userIdProblem(userId)).toBe(problem);
      expect(await throughCsv(one, userId, { note: 'n' })).toEqual({ refused: `user_id: ${problem}` });
      for (const field of ['userIds', 'targets']) {
        const error = invalidUserIdsError(field, ['ok', userId]);
        expect(error?.message).toBe(`Invalid user ids: ${field}[1]: ${problem}.`);
        expect(error).toMatchObject({
          code: 'ERR_BAD_REQUEST',
          details: { field, invalid: [userId] },
        });
      }
    },
  );

  it('accepts 1-100 letters, digits and _ @ . : - on every path', async () => {
    for (const userId of ['a', '007', 'a_b@c.d:e-F9', 'a'.repeat(100)]) {
      expect(userIdProblem(userId)).toBeUndefined();
      expect(await throughCsv(one, userId, { note: 'n' })).toEqual({ stored: { note: 'n' } });
      expect(invalidUserIdsError('targets', [userId])).toBeUndefined();
    }
  });

  it('names the first 5 invalid user ids of a body, counts the rest and lists them in details', () => {
    const userIds = ['ok', ...Array.from({ length: 7 }, (_, i) => `bad ${i}`)];
    const error = invalidUserIdsError('targets', userIds);
    expect(error?.message).toBe(
      `Invalid user ids: ${[1, 2, 3, 4, 5]
        .map((i) => `targets[${i}]: only letters, digits and _ @ . : - are allowed, got 'bad ${i - 1}'`)
        .join('; ')}; and 2 more.`,
    );
    expect(error?.details).toEqual({ field: 'targets', invalid: userIds.slice(1) });
  });
});
