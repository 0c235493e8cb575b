/**
 * Template rendering: `{{key}}` placeholders in a template's `title` and `body`, filled
 * from a recipient's variables over the schema's defaults.
 *
 * - A placeholder is `{{` optional whitespace, a name, optional whitespace `}}`
 *   (`{{name}}` and `{{ name }}` are the same). Anything between the braces that is
 *   not `{` or `}` counts as the name, so a malformed one such as `{{first-name}}` is
 *   reported (by `placeholders`, for template validation; by `render`, as a missing
 *   value) instead of being left in the text.
 * - Rendering is one pass over the template: an inserted value is never scanned again,
 *   so a value that itself contains `{{x}}` appears exactly as written.
 * - Values are inserted verbatim: no HTML or other escaping, because the delivery
 *   channel, not the template, knows its output format. Numbers and booleans are
 *   rendered with `String()` (`42`, `1.5`, `true`).
 * - A recipient's value wins over the key's `default`; an empty string is a value.
 *   A placeholder with neither is a `MissingVariableError` naming the key(s), which
 *   the consumer records as that recipient's failure reason.
 * - A message is at most `MAX_RENDERED_BYTES` UTF-8 bytes, title and body together.
 *   Rendering counts as it goes and stops at the limit with a `RenderedTooLargeError`
 *   (that recipient's failure reason), so a template of many placeholders and long
 *   values never builds its whole text. Approval refuses a template whose largest
 *   message (`renderedSizeBound`) is over the limit; the render-time check covers
 *   templates approved before that rule.
 */

import { MAX_VARIABLES_BYTES } from '#shared/domain/csv-rules.ts';
import type { Template, VariableSchema, VariableValue } from '#shared/domain/model.ts';
import { AppError } from '#shared/errors.ts';

/**
 * Most UTF-8 bytes of one rendered message, title and body together: 96 KiB, room for
 * the largest static text (10,200 characters, at most 30,600 bytes) and a recipient's
 * values (`MAX_VARIABLES_BYTES`, 64 KiB) each placed once. It fits SNS's 256 KiB per
 * message with the envelope and JSON escaping (a quote or newline is 2 bytes), keeps a
 * webhook request of 100 messages under 10 MB, and a consumer's ten messages of 100
 * recipients under 100 MB of text.
 */
export const MAX_RENDERED_BYTES = 96 * 1024;
/** Most characters `String()` writes for a finite number (`-0.0000012345678901234567`). */
export const NUMBER_MAX_CHARS = 25;
/** Most characters of a boolean (`false`). */
export const BOOLEAN_MAX_CHARS = 5;
/** Most UTF-8 bytes of one code point, which `maxLength` counts. */
export const MAX_BYTES_PER_CHARACTER = 4;

/** Global: use with `matchAll` / `replace` only (never `test`/`exec`, which keep state). */
const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/**
 * The distinct placeholder names of `text`, in order of first appearance, trimmed.
 * Template validation checks each is a key of the schema (a malformed name never is).
 */
export function placeholders(text: string): string[] {
  const keys = new Set<string>();
  for (const match of text.matchAll(PLACEHOLDER)) keys.add(match[1] ?? '');
  return [...keys];
}

/** A placeholder had no value: the recipient has none and the schema gives no default. */
export class MissingVariableError extends AppError {
  /** The missing keys, in order of first appearance (title first, then body). */
  readonly keys: string[];
  constructor(keys: string[]) {
    const names = keys.map((k) => `'${k}'`).join(', ');
    super(
      `Missing value for template variable${keys.length > 1 ? 's' : ''} ${names}: the recipient has no value and the template no default.`,
    );
    this.keys = keys;
  }
}

/** What a recipient receives. `title` is present exactly when the template has one. */
export interface RenderedMessage {
  title?: string;
  body: string;
}

/** The parts of a template that rendering reads. */
export type RenderableTemplate = Pick<Template, 'title' | 'body' | 'variableSchema'>;

function lookup(
  key: string,
  variables: Readonly<Record<string, VariableValue>>,
  schema: VariableSchema,
): VariableValue | undefined {
  // Own properties only: `{{constructor}}` must not find Object.prototype.constructor.
  if (Object.hasOwn(variables, key)) {
    const value = variables[key];
    if (value !== undefined && value !== null) return value;
  }
  if (Object.hasOwn(schema, key)) return schema[key]?.default;
  return undefined;
}

/** A recipient's message would be over `MAX_RENDERED_BYTES`: rendering stopped there. */
export class RenderedTooLargeError extends AppError {
  /** Where the limit was passed: the placeholder, or undefined in static text. */
  readonly key: string | undefined;
  readonly field: 'title' | 'body';
  constructor(field: 'title' | 'body', key: string | undefined) {
    const at = key === undefined ? `in the ${field}'s text` : `at {{${key}}} in the ${field}`;
    super(
      `The message for this recipient is over the limit of ${MAX_RENDERED_BYTES} bytes (title and body together, UTF-8), passed ${at}: shorten the recipient's values, or send with a template whose string variables have a maxLength (approval checks a template's largest message).`,
    );
    this.field = field;
    this.key = key;
  }
}

/** What is left of the message's bytes, shared by the title and the body. */
interface Budget {
  left: number;
  /** UTF-8 bytes of each key's value, counted once however often it appears. */
  readonly sizes: Map<string, number>;
}

function fill(
  text: string,
  field: 'title' | 'body',
  variables: Readonly<Record<string, VariableValue>>,
  schema: VariableSchema,
  missing: Set<string>,
  budget: Budget,
): string {
  const parts: string[] = [];
  const spend = (bytes: number, key: string | undefined) => {
    budget.left -= bytes;
    if (budget.left < 0) throw new RenderedTooLargeError(field, key);
  };
  let from = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    const before = text.slice(from, match.index);
    spend(Buffer.byteLength(before, 'utf8'), undefined);
    parts.push(before);
    from = match.index + match[0].length;
    const key = match[1] ?? '';
    const value = lookup(key, variables, schema);
    if (value === undefined) {
      missing.add(key);
      continue;
    }
    const inserted = String(value);
    let bytes = budget.sizes.get(key);
    if (bytes === undefined) {
      bytes = Buffer.byteLength(inserted, 'utf8');
      budget.sizes.set(key, bytes);
    }
    spend(bytes, key);
    parts.push(inserted);
  }
  const rest = text.slice(from);
  spend(Buffer.byteLength(rest, 'utf8'), undefined);
  parts.push(rest);
  return parts.join('');
}

/**
 * Renders `template` for one recipient. Throws `MissingVariableError` (naming every
 * missing key) when a placeholder has no value and no default, and
 * `RenderedTooLargeError` as soon as the message passes `MAX_RENDERED_BYTES`.
 */
export function render(
  template: RenderableTemplate,
  variables: Readonly<Record<string, VariableValue>>,
): RenderedMessage {
  const missing = new Set<string>();
  const budget: Budget = { left: MAX_RENDERED_BYTES, sizes: new Map() };
  const { variableSchema } = template;
  const title =
    template.title === undefined
      ? undefined
      : fill(template.title, 'title', variables, variableSchema, missing, budget);
  const body = fill(template.body, 'body', variables, variableSchema, missing, budget);
  if (missing.size > 0) throw new MissingVariableError([...missing]);
  return title === undefined ? { body } : { title, body };
}

/** One placeholder's part of a template's largest message. */
export interface PlaceholderBound {
  key: string;
  /** Occurrences in the title and the body together. */
  occurrences: number;
  /** The most UTF-8 bytes one occurrence can insert, in the largest message. */
  bytesEach: number;
}

/** The largest message a template can render, and what makes it up. */
export interface RenderedSizeBound {
  /** UTF-8 bytes, title and body together. */
  bytes: number;
  /** Bytes of the text outside the placeholders. */
  staticBytes: number;
  /** The declared placeholders, the largest part (`occurrences × bytesEach`) first. */
  placeholders: PlaceholderBound[];
}

/**
 * The most UTF-8 bytes `template` can render for any recipient its schema admits: the
 * static text, plus for each occurrence of a placeholder its variable's largest value:
 *
 * - a number `NUMBER_MAX_CHARS` bytes, a boolean `BOOLEAN_MAX_CHARS`;
 * - a string its default's bytes (what a recipient without a value gets) plus its share
 *   of the recipient's values: at most `maxLength` × `MAX_BYTES_PER_CHARACTER`, and all
 *   the recipient's values together at most `MAX_VARIABLES_BYTES` (the CSV and inline
 *   rules refuse more). That budget goes to the most repeated variables first, which is
 *   the largest message; a string without `maxLength` is bounded by the budget alone.
 *
 * A key the schema does not declare inserts nothing (it is a missing value).
 */
export function renderedSizeBound(template: RenderableTemplate): RenderedSizeBound {
  const schema = template.variableSchema;
  const occurrences = new Map<string, number>();
  let staticBytes = 0;
  for (const text of [template.title ?? '', template.body]) {
    staticBytes += Buffer.byteLength(text.replace(PLACEHOLDER, ''), 'utf8');
    for (const match of text.matchAll(PLACEHOLDER)) {
      const key = match[1] ?? '';
      if (Object.hasOwn(schema, key)) occurrences.set(key, (occurrences.get(key) ?? 0) + 1);
    }
  }
  const parts: PlaceholderBound[] = [];
  const strings: { key: string; occurrences: number; defaultBytes: number; room: number }[] = [];
  for (const [key, count] of occurrences) {
    const spec = schema[key];
    if (spec?.type === 'number') parts.push({ key, occurrences: count, bytesEach: NUMBER_MAX_CHARS });
    else if (spec?.type === 'boolean') parts.push({ key, occurrences: count, bytesEach: BOOLEAN_MAX_CHARS });
    else {
      const defaultBytes = spec?.default === undefined ? 0 : Buffer.byteLength(String(spec.default), 'utf8');
      const cap =
        spec?.maxLength === undefined
          ? MAX_VARIABLES_BYTES
          : Math.min(MAX_VARIABLES_BYTES, spec.maxLength * MAX_BYTES_PER_CHARACTER);
      // An occurrence inserts the value or the default: counting both is never less.
      strings.push({ key, occurrences: count, defaultBytes, room: Math.max(0, cap - defaultBytes) });
    }
  }
  // The recipient's budget, to the most repeated variables first (stable: first appearance on ties).
  strings.sort((a, b) => b.occurrences - a.occurrences);
  let budget = MAX_VARIABLES_BYTES;
  for (const s of strings) {
    const share = Math.min(s.room, budget);
    budget -= share;
    parts.push({ key: s.key, occurrences: s.occurrences, bytesEach: s.defaultBytes + share });
  }
  parts.sort((a, b) => b.occurrences * b.bytesEach - a.occurrences * a.bytesEach);
  const bytes = parts.reduce((sum, p) => sum + p.occurrences * p.bytesEach, staticBytes);
  return { bytes, staticBytes, placeholders: parts };
}
