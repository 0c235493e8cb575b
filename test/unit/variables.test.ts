import { describe, expect, it } from 'vitest';
import type { VariableSchema } from '#shared/domain/model.ts';
import {
  checkInlineVariables,
  checkVariables,
  describeProblem,
  invalidVariablesError,
  PROBLEMS_SHOWN,
  requiredKeys,
  type VariableProblem,
} from '#shared/domain/variables.ts';
import { InvalidVariablesError } from '#shared/errors.ts';

const schema: VariableSchema = {
  name: { type: 'string', required: true, maxLength: 5 },
  greeting: { type: 'string', required: true, default: 'Hi' },
  count: { type: 'number' },
  vip: { type: 'boolean' },
};

function problemsOf(result: { ok: boolean; problems?: VariableProblem[] }): VariableProblem[] {
  expect(result.ok).toBe(false);
  return result.problems ?? [];
}

describe('checkVariables', () => {
  it('accepts values of the right JSON types and returns them', () => {
    expect(checkVariables(schema, { name: 'Ada', count: 0, vip: false })).toEqual({
      ok: true,
      values: { name: 'Ada', count: 0, vip: false },
    });
  });

  it('accepts an empty object', () => {
    expect(checkVariables(schema, {})).toEqual({ ok: true, values: {} });
  });

  it.each([
    ['a number for a string key', { name: 42 }, 'name', "'name' must be a string, got a number"],
    ['a numeric string for a number key', { count: '42' }, 'count', "'count' must be a number, got a string"],
    ['a string for a boolean key', { vip: 'true' }, 'vip', "'vip' must be a boolean, got a string"],
    ['a number for a boolean key', { vip: 1 }, 'vip', "'vip' must be a boolean, got a number"],
    ['null', { count: null }, 'count', "'count' must be a number, got null"],
    ['an array', { name: ['a'] }, 'name', "'name' must be a string, got an array"],
    ['an object', { name: { a: 1 } }, 'name', "'name' must be a string, got an object"],
    ['NaN', { count: Number.NaN }, 'count', "'count' must be a number, got NaN"],
    ['Infinity', { count: Number.POSITIVE_INFINITY }, 'count', "'count' must be a number, got Infinity"],
  ])('rejects %s', (_label, input, key, message) => {
    expect(problemsOf(checkVariables(schema, input, 'u1'))).toEqual([{ userId: 'u1', key, message }]);
  });

  it('rejects a string over maxLength, counting code points', () => {
    expect(checkVariables(schema, { name: 'ééééé' }).ok).toBe(true);
    expect(checkVariables(schema, { name: '😀😀😀😀😀' }).ok).toBe(true);
    expect(problemsOf(checkVariables(schema, { name: 'abcdef' }))).toEqual([
      { key: 'name', message: "'name' must be at most 5 characters, got 6" },
    ]);
  });

  it('rejects keys that are not in the schema, including inherited names', () => {
    const input = JSON.parse('{"nickname":"x","constructor":"y","__proto__":"z"}');
    expect(problemsOf(checkVariables(schema, input, 'u1')).map((p) => p.key)).toEqual([
      'nickname',
      'constructor',
      '__proto__',
    ]);
  });

  it('keeps a schema key named __proto__ as a plain value', () => {
    const odd = JSON.parse('{"__proto__":{"type":"string"}}') as VariableSchema;
    const result = checkVariables(odd, JSON.parse('{"__proto__":"x"}'));
    expect(result.ok && Object.hasOwn(result.values, '__proto__')).toBe(true);
    expect(result.ok && Object.getPrototypeOf(result.values)).toBe(Object.prototype);
  });

  it("stores an empty string as an empty CSV cell: the key's default, or nothing without one", () => {
    expect(checkVariables(schema, { name: '', greeting: '' })).toEqual({
      ok: true,
      values: { greeting: 'Hi' },
    });
  });

  it('stores -0 as 0, as a CSV cell of -0 is', () => {
    const result = checkVariables(schema, { count: -0 });
    expect(result.ok && Object.is(result.values.count, 0)).toBe(true);
  });

  it('reports every problem of the object, not just the first', () => {
    expect(problemsOf(checkVariables(schema, { name: 1, count: 'x', other: true }))).toHaveLength(3);
  });

  it.each([
    ['null', null, 'null'],
    ['an array', [1], 'an array'],
    ['a string', 'name=Ada', 'a string'],
  ])('rejects %s instead of an object', (_label, input, what) => {
    expect(problemsOf(checkVariables(schema, input, 'u1'))).toEqual([
      { userId: 'u1', message: `variables must be an object of key/value pairs, got ${what}` },
    ]);
  });
});

describe('requiredKeys', () => {
  it('lists required keys without a default', () => {
    expect(requiredKeys(schema)).toEqual(['name']);
    expect(requiredKeys({})).toEqual([]);
  });
});

describe('checkInlineVariables', () => {
  it('returns each target with its own values', () => {
    const result = checkInlineVariables(schema, {
      userIds: ['u1', 'u2'],
      perUser: { u1: { name: 'Ada' }, u2: { name: 'Bob', count: 2 } },
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(Object.fromEntries(result.values)).toEqual({ u1: { name: 'Ada' }, u2: { name: 'Bob', count: 2 } });
  });

  it('applies shared values to every target, per-user values winning', () => {
    const result = checkInlineVariables(schema, {
      userIds: ['u1', 'u2'],
      shared: { name: 'All', vip: true },
      perUser: { u2: { name: 'Bob' } },
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.values.get('u1')).toEqual({ name: 'All', vip: true });
    expect(result.values.get('u2')).toEqual({ name: 'Bob', vip: true });
  });

  it('stores no default for a key left out, as for a column the file does not have (rendering applies it)', () => {
    const result = checkInlineVariables(schema, { userIds: ['u1'], perUser: { u1: { name: 'Ada' } } });
    expect(result.ok && result.values.get('u1')).toEqual({ name: 'Ada' });
  });

  it("stores the key's default for a key given empty, as for an empty CSV cell", () => {
    const result = checkInlineVariables(schema, {
      userIds: ['u1'],
      perUser: { u1: { name: 'Ada', greeting: '' } },
    });
    expect(result.ok && result.values.get('u1')).toEqual({ name: 'Ada', greeting: 'Hi' });
  });

  it('keeps the shared value for a key a target gives empty, and the default for one empty in both', () => {
    const result = checkInlineVariables(schema, {
      userIds: ['u1', 'u2'],
      shared: { name: 'All', greeting: 'Hello' },
      perUser: { u1: { greeting: '' } },
    });
    expect(result.ok && result.values.get('u1')).toEqual({ name: 'All', greeting: 'Hello' });
    const empty = checkInlineVariables(schema, {
      userIds: ['u1'],
      shared: { name: 'All', greeting: '' },
      perUser: { u1: { greeting: '' } },
    });
    expect(empty.ok && empty.values.get('u1')).toEqual({ name: 'All', greeting: 'Hi' });
  });

  it('reports a required key without default missing, naming each user and the key', () => {
    const problems = problemsOf(
      checkInlineVariables(schema, { userIds: ['u1', 'u2', 'u3'], perUser: { u2: { name: 'Bob' } } }),
    );
    expect(problems).toEqual([
      { userId: 'u1', key: 'name', message: "'name' is required and has no default" },
      { userId: 'u3', key: 'name', message: "'name' is required and has no default" },
    ]);
  });

  it('counts an empty string for a required key as missing', () => {
    const problems = problemsOf(
      checkInlineVariables(schema, { userIds: ['u1'], perUser: { u1: { name: '' } } }),
    );
    expect(problems).toEqual([
      { userId: 'u1', key: 'name', message: "'name' is required and has no default" },
    ]);
  });

  it('does not require a required key that has a default', () => {
    const result = checkInlineVariables(
      { greeting: { type: 'string', required: true, default: 'Hi' } },
      { userIds: ['u1'] },
    );
    expect(result.ok).toBe(true);
  });

  it('accepts targets with no variables when the schema requires none', () => {
    const result = checkInlineVariables({ count: { type: 'number' } }, { userIds: ['u1', 'u2'] });
    expect(result.ok && result.values.size).toBe(2);
  });

  it('reports type problems with the user id and key', () => {
    const problems = problemsOf(
      checkInlineVariables(schema, { userIds: ['u1'], perUser: { u1: { name: 'Ada', count: '3' } } }),
    );
    expect(problems).toEqual([
      { userId: 'u1', key: 'count', message: "'count' must be a number, got a string" },
    ]);
  });

  it('reports problems in the shared values without a user id', () => {
    const problems = problemsOf(
      checkInlineVariables(schema, { userIds: ['u1'], shared: { name: 'Ada', bogus: 1 } }),
    );
    expect(problems).toEqual([
      { key: 'bogus', shared: true, message: "'bogus' is not a variable of the template" },
    ]);
  });

  it('reports variables given for a user id that is not a target', () => {
    const problems = problemsOf(
      checkInlineVariables(schema, { userIds: ['u1'], perUser: { u1: { name: 'A' }, u9: { name: 'B' } } }),
    );
    expect(problems).toEqual([
      { userId: 'u9', message: "variables are given for 'u9', which is not a target" },
    ]);
  });

  it('rejects per-user variables that are not an object keyed by user id', () => {
    const problems = problemsOf(checkInlineVariables(schema, { userIds: ['u1'], perUser: [{ name: 'A' }] }));
    expect(problems[0]).toEqual({ message: 'variables must be an object keyed by user id, got an array' });
  });

  it('collects problems across users', () => {
    const problems = problemsOf(
      checkInlineVariables(schema, {
        userIds: ['u1', 'u2'],
        perUser: { u1: { name: 7 }, u2: { name: 'toolongname' } },
      }),
    );
    expect(problems.map((p) => `${p.userId}/${p.key}`)).toEqual(['u1/name', 'u2/name']);
  });

  it('treats a repeated target once', () => {
    const result = checkInlineVariables(schema, { userIds: ['u1', 'u1'], perUser: { u1: { name: 'A' } } });
    expect(result.ok && result.values.size).toBe(1);
  });
});

describe('invalidVariablesError', () => {
  it('is an ERR_INVALID_VARIABLES whose message names users and keys', () => {
    const error = invalidVariablesError([
      { userId: 'u1', key: 'name', message: "'name' is required and has no default" },
      { key: 'bogus', shared: true, message: "'bogus' is not a variable of the template" },
      { message: 'variables must be an object keyed by user id, got an array' },
    ]);
    expect(error).toBeInstanceOf(InvalidVariablesError);
    expect(error.code).toBe('ERR_INVALID_VARIABLES');
    expect(error.message).toBe(
      "Invalid variables: user 'u1': 'name' is required and has no default; template.variables: 'bogus' is not a variable of the template; variables: variables must be an object keyed by user id, got an array.",
    );
    expect(error.details).toEqual({ problems: expect.any(Array), total: 3 });
  });

  it('lists the first problems and counts the rest', () => {
    const problems = Array.from({ length: PROBLEMS_SHOWN + 5 }, (_, i) => ({
      userId: `u${i}`,
      key: 'name',
      message: "'name' is required and has no default",
    }));
    const error = invalidVariablesError(problems);
    expect(error.message).toMatch(/; and 5 more\.$/);
    expect(error.details?.problems).toHaveLength(PROBLEMS_SHOWN);
    expect(error.details?.total).toBe(PROBLEMS_SHOWN + 5);
  });

  it('describes a problem with its user', () => {
    expect(describeProblem({ userId: 'u1', key: 'k', message: 'm' })).toBe("user 'u1': m");
  });
});

describe('inline variables: the size of one recipient', () => {
  it('refuses a target whose variables are over 64 KiB together, naming it and the limit', () => {
    const check = checkInlineVariables(
      { note: { type: 'string' } },
      { userIds: ['ada', 'bob'], perUser: { ada: { note: 'x'.repeat(70_000) }, bob: { note: 'fine' } } },
    );
    expect(check).toEqual({
      ok: false,
      problems: [
        {
          userId: 'ada',
          message: expect.stringMatching(
            /^the variable values are 70000 bytes together, over the limit of 65536 bytes/,
          ),
        },
      ],
    });
  });

  it('counts control characters as JSON writes them (6 bytes each), as a delivery message carries them', () => {
    const check = checkInlineVariables(
      { note: { type: 'string' } },
      { userIds: ['ada'], perUser: { ada: { note: '\u0007'.repeat(20_000) } } },
    );
    expect(check).toEqual({
      ok: false,
      problems: [
        {
          userId: 'ada',
          message: expect.stringMatching(/^the variable values are 120000 bytes together, over the limit/),
        },
      ],
    });
  });
});
