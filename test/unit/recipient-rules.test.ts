/**
 * The rules of a recipient are written once (shared/domain/csv-rules.ts) and followed by
 * the three paths that add one: a CSV row, an inline add (`userIds`) and a one-call send
 * (`targets`). Each case here goes through all three and expects the same answer.
 */
import { describe, expect, it } from 'vitest';
import { csvLine, invalidUserIdsError, userIdProblem } from '#shared/domain/csv-rules.ts';
import { validateCsv } from '#shared/domain/csv-validate.ts';
import type { VariableSchema, VariableValue } from '#shared/domain/model.ts';

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
          status: 400,
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
