/**
 * Inline variables: the JSON values a one-call send (`template.variables`, `variables`)
 * or an inline recipient add (`variables`) gives, checked against a template's
 * `variableSchema`.
 *
 * The value rules are the CSV's, taken from `csv-rules.ts`, so a recipient gets the same
 * stored variables whichever way it was added (docs/csv.md):
 *
 * - every key must be a key of the schema (unknown keys are rejected);
 * - a value must have the key's JSON type: `string`, `number` (finite) or `boolean`;
 *   nothing is coerced (`"42"` is not a number) and `null` is not a value;
 * - a string is at most `maxLength` characters, counted in Unicode code points
 *   (`maxLengthProblem`); a number is stored as the CSV stores it (`storedNumber`);
 * - an empty string is an empty CSV cell: it stores the key's `default` (`emptyValue`),
 *   unless a shared value fills the key; a key left out is a column the file does not
 *   have, and stores nothing (rendering applies its default);
 * - a `required` key without a `default` must have a value for every target, from
 *   the per-user variables or the shared ones (`template.variables`);
 * - a target's values together, defaults included, fit `MAX_VARIABLES_BYTES`.
 */

import {
  emptyValue,
  maxLengthProblem,
  storedNumber,
  variablesBytes,
  variablesSizeProblem,
} from '#shared/domain/csv-rules.ts';
import type { VariableSchema, VariableSpec, VariableValue } from '#shared/domain/model.ts';
import { InvalidVariablesError } from '#shared/errors.ts';

/** One thing wrong with the inline variables. */
export interface VariableProblem {
  /** The target it concerns; absent for the shared values or the object as a whole. */
  userId?: string;
  /** Set on problems with the shared values (`template.variables` of a one-call send). */
  shared?: true;
  /** The variable key it concerns; absent when the whole object is wrong. */
  key?: string;
  message: string;
}

export type VariableCheck =
  | { ok: true; values: Record<string, VariableValue> }
  | { ok: false; problems: VariableProblem[] };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** The problem with one value, or undefined when it fits its spec. */
function checkValue(spec: VariableSpec, value: unknown): string | undefined {
  const ok =
    spec.type === 'number' ? typeof value === 'number' && Number.isFinite(value) : typeof value === spec.type;
  if (!ok) return `must be a ${spec.type}, got ${describeType(value)}`;
  const tooLong = typeof value === 'string' ? maxLengthProblem(spec.maxLength, value) : undefined;
  return tooLong === undefined ? undefined : `must be ${tooLong}`;
}

/**
 * Checks one object of variables (types, `maxLength`, unknown keys). It does not check
 * required keys: those may come from elsewhere (see `checkInlineVariables`).
 * The values are returned as they are stored: an empty string is left out, or replaced
 * by the key's default (`emptyValue`), as an empty CSV cell is.
 */
export function checkVariables(schema: VariableSchema, input: unknown, userId?: string): VariableCheck {
  const { values, empty, problems } = collect(schema, input, userId);
  return problems.length > 0
    ? { ok: false, problems }
    : { ok: true, values: withDefaults(schema, values, empty) };
}

/** The valid non-empty values of `input`, the keys it gives as `""`, and the problems with the rest. */
function collect(
  schema: VariableSchema,
  input: unknown,
  userId?: string,
): { values: Record<string, VariableValue>; empty: string[]; problems: VariableProblem[] } {
  const at = userId === undefined ? {} : { userId };
  if (!isPlainObject(input)) {
    const message = `variables must be an object of key/value pairs, got ${describeType(input)}`;
    return { values: {}, empty: [], problems: [{ ...at, message }] };
  }
  const problems: VariableProblem[] = [];
  const empty: string[] = [];
  // Entries, then fromEntries: a key named `__proto__` stays a plain property.
  const values: [string, VariableValue][] = [];
  for (const [key, value] of Object.entries(input)) {
    const spec = Object.hasOwn(schema, key) ? schema[key] : undefined;
    if (spec === undefined) {
      problems.push({ ...at, key, message: `'${key}' is not a variable of the template` });
      continue;
    }
    if (value === '') {
      empty.push(key);
      continue;
    }
    const problem = checkValue(spec, value);
    if (problem !== undefined) problems.push({ ...at, key, message: `'${key}' ${problem}` });
    else values.push([key, typeof value === 'number' ? storedNumber(value) : (value as VariableValue)]);
  }
  return { values: Object.fromEntries(values), empty, problems };
}

/** `values` with the default of each key given empty and still without a value (`emptyValue`). */
function withDefaults(
  schema: VariableSchema,
  values: Record<string, VariableValue>,
  empty: readonly string[],
): Record<string, VariableValue> {
  const filled = empty.flatMap((key): [string, VariableValue][] => {
    const value = Object.hasOwn(values, key) ? undefined : emptyValue(schema[key] as VariableSpec);
    return value === undefined ? [] : [[key, value]];
  });
  // Entries, then fromEntries: a key named `__proto__` stays a plain property.
  return filled.length === 0 ? values : Object.fromEntries([...Object.entries(values), ...filled]);
}

/** The keys that every target must end up with a value for. */
export function requiredKeys(schema: VariableSchema): string[] {
  return Object.entries(schema)
    .filter(([, spec]) => spec.required === true && spec.default === undefined)
    .map(([key]) => key);
}

export interface InlineVariablesInput {
  /** The targets (one-call send) or the user ids to add (inline recipient add). */
  userIds: readonly string[];
  /** `{ "<userId>": { ... } }`; an entry for a user id not in `userIds` is a problem. */
  perUser?: unknown;
  /** Values for every target (`template.variables` of a one-call send). */
  shared?: unknown;
}

export type InlineVariablesCheck =
  | { ok: true; values: Map<string, Record<string, VariableValue>> }
  | { ok: false; problems: VariableProblem[] };

/**
 * Checks the inline variables of every target and merges them (per-user values over
 * shared ones). Returns each target's values, or every problem found, each naming the
 * user id (when it concerns one) and the key.
 */
export function checkInlineVariables(
  schema: VariableSchema,
  input: InlineVariablesInput,
): InlineVariablesCheck {
  const problems: VariableProblem[] = [];
  let shared: Record<string, VariableValue> = {};
  let sharedEmpty: string[] = [];
  if (input.shared !== undefined) {
    // Keep the valid shared values, so a bad one is not also reported as missing per user.
    const check = collect(schema, input.shared);
    shared = check.values;
    sharedEmpty = check.empty;
    for (const problem of check.problems) problems.push({ ...problem, shared: true });
  }

  let perUser: Record<string, unknown> = {};
  if (input.perUser !== undefined) {
    if (isPlainObject(input.perUser)) perUser = input.perUser;
    else
      problems.push({
        message: `variables must be an object keyed by user id, got ${describeType(input.perUser)}`,
      });
  }

  const targets = new Set(input.userIds);
  for (const userId of Object.keys(perUser)) {
    if (!targets.has(userId)) {
      problems.push({ userId, message: `variables are given for '${userId}', which is not a target` });
    }
  }

  const required = requiredKeys(schema);
  const values = new Map<string, Record<string, VariableValue>>();
  for (const userId of targets) {
    let own: Record<string, VariableValue> = {};
    let ownEmpty: string[] = [];
    if (Object.hasOwn(perUser, userId)) {
      const check = collect(schema, perUser[userId], userId);
      if (check.problems.length > 0) {
        problems.push(...check.problems);
        continue;
      }
      own = check.values;
      ownEmpty = check.empty;
    }
    // A per-user `""` leaves the shared value in place; a key given only empty takes its default.
    const merged = withDefaults(schema, { ...shared, ...own }, [...sharedEmpty, ...ownEmpty]);
    for (const key of required) {
      if (!Object.hasOwn(merged, key)) {
        problems.push({ userId, key, message: `'${key}' is required and has no default` });
      }
    }
    const tooLarge = variablesSizeProblem(variablesBytes(merged));
    if (tooLarge !== undefined) problems.push({ userId, message: tooLarge });
    values.set(userId, merged);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, values };
}

/** One line per problem: `user 'u1': 'name' must be a string, got a number`. */
export function describeProblem(problem: VariableProblem): string {
  const where =
    problem.userId !== undefined
      ? `user '${problem.userId}'`
      : problem.shared
        ? 'template.variables'
        : 'variables';
  return `${where}: ${problem.message}`;
}

/** How many problems an error message and its details list before summarising the rest. */
export const PROBLEMS_SHOWN = 20;

/**
 * The `InvalidVariablesError` for a list of problems: the message names the first
 * few and counts the rest; `details.problems` holds the first `PROBLEMS_SHOWN`.
 */
export function invalidVariablesError(problems: readonly VariableProblem[]): InvalidVariablesError {
  const shown = problems.slice(0, PROBLEMS_SHOWN);
  const more = problems.length - shown.length;
  const message = `Invalid variables: ${shown.map(describeProblem).join('; ')}${more > 0 ? `; and ${more} more` : ''}.`;
  return new InvalidVariablesError(message, { problems: shown, total: problems.length });
}
