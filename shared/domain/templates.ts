/**
 * Template rules (docs/api.md, Templates), pure: the request shapes and their limits, the
 * variable schema and placeholder checks, and the status lifecycle
 * `draft` → `approved` → `archived` (or `draft` → `archived`). An approved or archived
 * template's content is frozen: campaigns that use it must render what was approved.
 */
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { ConflictError, InvalidInputError, TemplateContentFrozenError } from '#shared/errors.ts';
import { encodedValueBytes, MAX_VARIABLES_BYTES } from './csv-rules.ts';
import {
  type Template,
  type TemplateStatus,
  VARIABLE_KEY_PATTERN,
  type VariableSchema,
  variableSpec,
} from './model.ts';
import { MAX_BYTES_PER_CHARACTER, MAX_RENDERED_BYTES, placeholders, renderedSizeBound } from './render.ts';

/** Limits of a template's fields (documented in docs/api-quickstart.md). */
export const TEMPLATE_LIMITS = {
  nameMaxLength: 200,
  titleMaxLength: 200,
  bodyMaxLength: 10_000,
  variableKeys: 50,
  variableKeyMaxLength: 64,
  variableMaxLength: 10_000,
} as const;

/** The recipient's id column: never a variable key. */
export const RESERVED_VARIABLE_KEY = 'user_id';

const content = {
  name: z.string().trim().min(1).max(TEMPLATE_LIMITS.nameMaxLength),
  title: z.string().max(TEMPLATE_LIMITS.titleMaxLength),
  body: z.string().min(1).max(TEMPLATE_LIMITS.bodyMaxLength),
  variableSchema: z.record(
    z.string(),
    variableSpec.extend({
      maxLength: z.number().int().positive().max(TEMPLATE_LIMITS.variableMaxLength).optional(),
    }),
  ),
};

/** Body of `POST /api/templates`. */
export const createTemplateBody = z
  .object({
    name: content.name,
    title: content.title.optional(),
    body: content.body,
    variableSchema: content.variableSchema.default({}),
  })
  .strict();
export type CreateTemplateInput = z.infer<typeof createTemplateBody>;

/** Body of `PUT /api/templates/{id}`: a new status, content changes (drafts only), or both. */
export const updateTemplateBody = z
  .object({
    status: z.enum(['draft', 'approved', 'archived']).optional(),
    name: content.name.optional(),
    title: content.title.optional(),
    body: content.body.optional(),
    variableSchema: content.variableSchema.optional(),
  })
  .strict()
  .refine((value) => Object.keys(value).length > 0, {
    message: 'send at least one of status, name, title, body, variableSchema',
  });
export type UpdateTemplateInput = z.infer<typeof updateTemplateBody>;

/** Allowed status changes; staying in the same status is always allowed (a no-op). */
export const TEMPLATE_TRANSITIONS: Readonly<Record<TemplateStatus, readonly TemplateStatus[]>> = {
  draft: ['approved', 'archived'],
  approved: ['archived'],
  archived: [],
};

/**
 * Checks a variable schema: identifier keys, never `user_id`, a `default` of the
 * key's type (within `maxLength`), `maxLength` only on strings. Throws an `InvalidInputError`
 * naming the key.
 */
export function assertValidVariableSchema(schema: VariableSchema): void {
  const keys = Object.keys(schema);
  if (keys.length > TEMPLATE_LIMITS.variableKeys) {
    throw new InvalidInputError(
      `variableSchema has ${keys.length} keys; at most ${TEMPLATE_LIMITS.variableKeys} are allowed.`,
      { field: 'variableSchema' },
    );
  }
  for (const key of keys) {
    const field = `variableSchema.${key}`;
    if (key === RESERVED_VARIABLE_KEY) {
      throw new InvalidInputError(
        `variableSchema key '${key}' is reserved for the recipient id; rename the variable.`,
        { field, key },
      );
    }
    if (!VARIABLE_KEY_PATTERN.test(key) || key.length > TEMPLATE_LIMITS.variableKeyMaxLength) {
      throw new InvalidInputError(
        `variableSchema key '${key}' is invalid: use letters, digits and '_', not starting with a digit, at most ${TEMPLATE_LIMITS.variableKeyMaxLength} characters.`,
        { field, key },
      );
    }
    const spec = schema[key];
    if (!spec) continue;
    if (spec.maxLength !== undefined && spec.type !== 'string') {
      throw new InvalidInputError(
        `variableSchema key '${key}': maxLength applies only to type 'string', not '${spec.type}'.`,
        { field: `${field}.maxLength`, key },
      );
    }
    if (spec.default !== undefined) {
      if (typeof spec.default !== spec.type) {
        throw new InvalidInputError(
          `variableSchema key '${key}': default must be a ${spec.type}, got ${typeof spec.default}.`,
          { field: `${field}.default`, key },
        );
      }
      if (typeof spec.default === 'string' && spec.maxLength !== undefined) {
        if (spec.default.length > spec.maxLength) {
          throw new InvalidInputError(
            `variableSchema key '${key}': default is longer than its maxLength ${spec.maxLength}.`,
            { field: `${field}.default`, key },
          );
        }
      }
    }
  }
  // A default fills an empty CSV cell and is stored with the recipient: together they
  // must leave a recipient within its size.
  let defaultsBytes = 0;
  for (const spec of Object.values(schema)) {
    if (spec?.default !== undefined) defaultsBytes += encodedValueBytes(spec.default);
  }
  if (defaultsBytes > MAX_VARIABLES_BYTES) {
    throw new InvalidInputError(
      `variableSchema: the defaults are ${defaultsBytes} bytes together, over the limit of ${MAX_VARIABLES_BYTES} bytes a recipient's values may take; shorten them.`,
      { field: 'variableSchema', defaultsBytes, limitBytes: MAX_VARIABLES_BYTES },
    );
  }
}

/** Checks that every `{{key}}` in `title` and `body` is a key of `schema`; an `InvalidInputError` names the first that is not. */
export function assertPlaceholdersDeclared(
  texts: { title?: string | undefined; body: string },
  schema: VariableSchema,
): void {
  for (const field of ['title', 'body'] as const) {
    for (const key of placeholders(texts[field] ?? '')) {
      if (!Object.hasOwn(schema, key)) {
        throw new InvalidInputError(
          `${field} uses placeholder '{{${key}}}', which is not a key of variableSchema; add '${key}' to variableSchema or remove the placeholder.`,
          { field, key },
        );
      }
    }
  }
}

/**
 * Checks that the largest message the template can render (`renderedSizeBound`) is
 * within `MAX_RENDERED_BYTES`; an `InvalidInputError` names the variable that takes the most of it.
 */
export function assertRenderedSizeBounded(template: {
  title?: string | undefined;
  body: string;
  variableSchema: VariableSchema;
}): void {
  const { title, body, variableSchema } = template;
  const bound = renderedSizeBound({ ...(title === undefined ? {} : { title }), body, variableSchema });
  if (bound.bytes <= MAX_RENDERED_BYTES) return;
  const over = `The template's largest message is ${bound.bytes} bytes (title and body together, UTF-8), over the limit of ${MAX_RENDERED_BYTES} bytes per recipient`;
  const top = bound.placeholders[0];
  const limits = { worstCaseBytes: bound.bytes, limitBytes: MAX_RENDERED_BYTES };
  if (top === undefined)
    throw new InvalidInputError(`${over}: shorten the title or the body.`, { field: 'body', ...limits });
  const { key, occurrences, bytesEach } = top;
  const maxLength = variableSchema[key]?.maxLength;
  const why =
    variableSchema[key]?.type !== 'string'
      ? `a ${variableSchema[key]?.type} is at most ${bytesEach} bytes`
      : maxLength === undefined
        ? `it has no maxLength, so only the limit of ${MAX_VARIABLES_BYTES} bytes on a recipient's values bounds it`
        : `maxLength ${maxLength} characters, up to ${MAX_BYTES_PER_CHARACTER} bytes each`;
  const fix =
    variableSchema[key]?.type !== 'string'
      ? `use fewer {{${key}}} placeholders`
      : maxLength === undefined
        ? `add a maxLength to variable '${key}' or use fewer {{${key}}} placeholders`
        : `lower the maxLength of variable '${key}' or use fewer {{${key}}} placeholders`;
  throw new InvalidInputError(
    `${over}: {{${key}}} appears ${occurrences} time${occurrences === 1 ? '' : 's'} and may be ${bytesEach} bytes each (${why}). To fix it, ${fix}.`,
    { field: `variableSchema.${key}.maxLength`, key, ...limits },
  );
}

/** A new draft template, checked. */
export function newTemplate(
  input: CreateTemplateInput,
  ids: { id: string; appId: string; now: string },
): Template {
  assertValidVariableSchema(input.variableSchema);
  assertPlaceholdersDeclared(input, input.variableSchema);
  assertRenderedSizeBounded(input);
  return {
    id: ids.id,
    appId: ids.appId,
    name: input.name,
    ...(input.title === undefined ? {} : { title: input.title }),
    body: input.body,
    variableSchema: input.variableSchema,
    status: 'draft',
    createdAt: ids.now,
    updatedAt: ids.now,
  };
}

const CONTENT_FIELDS = ['name', 'title', 'body', 'variableSchema'] as const;

/**
 * The template after `change`, or a `ConflictError` when its status forbids it: content changes
 * only while `draft` (resending an approved template's current content is accepted),
 * status changes only along `TEMPLATE_TRANSITIONS`.
 */
export function updatedTemplate(current: Template, change: UpdateTemplateInput, now: string): Template {
  const changed = CONTENT_FIELDS.filter(
    (field) => change[field] !== undefined && !isDeepStrictEqual(change[field], current[field]),
  );
  if (changed.length > 0 && current.status !== 'draft') {
    throw new TemplateContentFrozenError(current.id, current.status, changed);
  }
  const to = change.status ?? current.status;
  if (to !== current.status && !TEMPLATE_TRANSITIONS[current.status].includes(to)) {
    const allowed = TEMPLATE_TRANSITIONS[current.status];
    throw new ConflictError(
      `Template '${current.id}' is ${current.status} and cannot become ${to}${allowed.length > 0 ? `; it can become ${allowed.join(' or ')}` : ''}.`,
      { templateId: current.id, status: current.status, allowed },
    );
  }
  const next: Template = {
    ...current,
    ...(change.name === undefined ? {} : { name: change.name }),
    ...(change.title === undefined ? {} : { title: change.title }),
    ...(change.body === undefined ? {} : { body: change.body }),
    ...(change.variableSchema === undefined ? {} : { variableSchema: change.variableSchema }),
    status: to,
  };
  if (changed.length === 0 && to === current.status) return current;
  if (changed.length > 0) {
    assertValidVariableSchema(next.variableSchema);
    assertPlaceholdersDeclared(next, next.variableSchema);
  }
  // On approval too: a draft stored before the size rule has not been checked.
  if (changed.length > 0 || (to === 'approved' && current.status !== 'approved'))
    assertRenderedSizeBounded(next);
  return { ...next, updatedAt: now };
}

/** A template as the API returns it: every documented field present (`title` null when unset). */
export type TemplateView = Omit<Template, 'title'> & { title: string | null };

/** The API's view of a template. */
export function templateView(template: Template): TemplateView {
  // Field by field, in a stable order: stored maps come back in any order.
  return {
    id: template.id,
    appId: template.appId,
    name: template.name,
    title: template.title ?? null,
    body: template.body,
    variableSchema: template.variableSchema,
    status: template.status,
    createdAt: template.createdAt,
    updatedAt: template.updatedAt,
  };
}
