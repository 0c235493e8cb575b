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
 */

import type { Template, VariableSchema, VariableValue } from '#shared/domain/model.ts';
import { AppError } from '#shared/errors.ts';

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

function fill(
  text: string,
  variables: Readonly<Record<string, VariableValue>>,
  schema: VariableSchema,
  missing: Set<string>,
): string {
  return text.replace(PLACEHOLDER, (_whole, rawKey: string) => {
    const value = lookup(rawKey, variables, schema);
    if (value === undefined) {
      missing.add(rawKey);
      return '';
    }
    return String(value);
  });
}

/**
 * Renders `template` for one recipient. Throws `MissingVariableError` (naming every
 * missing key) when a placeholder has no value and no default.
 */
export function render(
  template: RenderableTemplate,
  variables: Readonly<Record<string, VariableValue>>,
): RenderedMessage {
  const missing = new Set<string>();
  const title =
    template.title === undefined
      ? undefined
      : fill(template.title, variables, template.variableSchema, missing);
  const body = fill(template.body, variables, template.variableSchema, missing);
  if (missing.size > 0) throw new MissingVariableError([...missing]);
  return title === undefined ? { body } : { title, body };
}
