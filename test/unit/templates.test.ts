import { describe, expect, it } from 'vitest';
import type { Template } from '#shared/domain/model.ts';
import { MAX_RENDERED_BYTES } from '#shared/domain/render.ts';
import {
  assertPlaceholdersDeclared,
  assertValidVariableSchema,
  createTemplateBody,
  newTemplate,
  updatedTemplate,
  updateTemplateBody,
} from '#shared/domain/templates.ts';
import { ConflictError, InvalidInputError } from '#shared/errors.ts';

const ids = { id: 'tpl_1', appId: 'app-1', now: '2026-01-01T00:00:00.000Z' };
const later = '2026-01-02T00:00:00.000Z';

function draft(overrides: Partial<Template> = {}): Template {
  return {
    ...newTemplate(
      {
        name: 'Welcome',
        title: 'Hi {{name}}',
        body: 'Your code is {{code}}',
        variableSchema: {
          name: { type: 'string', maxLength: 20 },
          code: { type: 'number', required: true },
        },
      },
      ids,
    ),
    ...overrides,
  };
}

function badRequest(run: () => unknown): InvalidInputError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return error as InvalidInputError;
  }
  throw new Error('expected an InvalidInputError');
}

function conflict(run: () => unknown): ConflictError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConflictError);
    return error as ConflictError;
  }
  throw new Error('expected a ConflictError');
}

describe('variable schema', () => {
  it('accepts identifier keys with defaults of their own type', () => {
    expect(() =>
      assertValidVariableSchema({
        first_name: { type: 'string', default: 'there', maxLength: 10 },
        _count: { type: 'number', default: 3 },
        vip: { type: 'boolean', default: false, required: true },
      }),
    ).not.toThrow();
  });

  it('rejects the key user_id, naming it', () => {
    const error = badRequest(() => assertValidVariableSchema({ user_id: { type: 'string' } }));
    expect(error.message).toContain("'user_id'");
    expect(error.details).toMatchObject({ key: 'user_id' });
  });

  it.each(['1st', 'first-name', 'first name', 'a.b', ''])('rejects the key %j, naming it', (key) => {
    const error = badRequest(() => assertValidVariableSchema({ [key]: { type: 'string' } }));
    expect(error.message).toContain(`'${key}'`);
  });

  it('rejects a default whose type differs from the key type', () => {
    const error = badRequest(() => assertValidVariableSchema({ age: { type: 'number', default: '3' } }));
    expect(error.message).toMatch(/age.*default must be a number/);
  });

  it('rejects maxLength on a key that is not a string', () => {
    const error = badRequest(() => assertValidVariableSchema({ age: { type: 'number', maxLength: 3 } }));
    expect(error.message).toMatch(/age.*maxLength applies only to type 'string'/);
  });

  it('rejects a string default longer than its maxLength', () => {
    const error = badRequest(() =>
      assertValidVariableSchema({ code: { type: 'string', maxLength: 2, default: 'abc' } }),
    );
    expect(error.message).toMatch(/code.*longer than its maxLength 2/);
  });

  it('rejects defaults over 64 KiB together, naming the field, their size and the limit', () => {
    const schema = {
      a: { type: 'string', default: 'x'.repeat(40_000) },
      b: { type: 'string', default: '\u0001'.repeat(5_000) },
    } as const;
    expect(() => assertValidVariableSchema(schema)).toThrow(
      /^variableSchema: the defaults are 70000 bytes together, over the limit of 65536 bytes a recipient's values may take; shorten them\.$/,
    );
    expect(() =>
      assertValidVariableSchema({ a: { type: 'string', default: 'x'.repeat(65_536) } }),
    ).not.toThrow();
  });

  it('rejects more than 50 keys', () => {
    const schema = Object.fromEntries(
      Array.from({ length: 51 }, (_, i) => [`k${i}`, { type: 'string' as const }]),
    );
    expect(badRequest(() => assertValidVariableSchema(schema)).message).toContain('at most 50');
  });
});

describe('placeholder check', () => {
  it('rejects a placeholder in the body that is not a schema key, naming it', () => {
    const error = badRequest(() =>
      assertPlaceholdersDeclared({ body: 'Hi {{nmae}}' }, { name: { type: 'string' } }),
    );
    expect(error.message).toContain("'{{nmae}}'");
    expect(error.details).toEqual({ field: 'body', key: 'nmae' });
  });

  it('rejects a placeholder in the title that is not a schema key', () => {
    const error = badRequest(() => assertPlaceholdersDeclared({ title: '{{x}}', body: 'ok' }, {}));
    expect(error.details).toEqual({ field: 'title', key: 'x' });
  });

  it('rejects {{user_id}}, which is never a schema key', () => {
    expect(() => assertPlaceholdersDeclared({ body: 'for {{user_id}}' }, {})).toThrow(InvalidInputError);
  });
});

describe('create request', () => {
  it('makes a draft with the given content and no title when none is sent', () => {
    const input = createTemplateBody.parse({ name: 'N', body: 'plain' });
    expect(newTemplate(input, ids)).toEqual({
      id: 'tpl_1',
      appId: 'app-1',
      name: 'N',
      body: 'plain',
      variableSchema: {},
      status: 'draft',
      createdAt: ids.now,
      updatedAt: ids.now,
    });
  });

  it('rejects unknown fields, in the body and in a variable spec', () => {
    expect(createTemplateBody.safeParse({ name: 'N', body: 'b', colour: 'red' }).success).toBe(false);
    expect(
      createTemplateBody.safeParse({
        name: 'N',
        body: 'b',
        variableSchema: { a: { type: 'string', min: 1 } },
      }).success,
    ).toBe(false);
  });

  it('rejects a name over 200 and a body over 10,000 characters', () => {
    expect(createTemplateBody.safeParse({ name: 'x'.repeat(201), body: 'b' }).success).toBe(false);
    expect(createTemplateBody.safeParse({ name: 'n', body: 'x'.repeat(10_001) }).success).toBe(false);
    expect(createTemplateBody.safeParse({ name: 'x'.repeat(200), body: 'x'.repeat(10_000) }).success).toBe(
      true,
    );
  });

  it('rejects an empty update', () => {
    expect(updateTemplateBody.safeParse({}).success).toBe(false);
  });
});

describe('updates', () => {
  it('lets a draft change its content and stamps updatedAt', () => {
    const next = updatedTemplate(draft(), { body: 'New {{code}}' }, later);
    expect(next).toMatchObject({ body: 'New {{code}}', status: 'draft', updatedAt: later });
  });

  it('checks placeholders against the schema after a draft edit', () => {
    expect(() => updatedTemplate(draft(), { variableSchema: {} }, later)).toThrow(InvalidInputError);
  });

  it.each([
    ['draft', 'approved'],
    ['draft', 'archived'],
    ['approved', 'archived'],
  ] as const)('moves a template from %s to %s', (from, to) => {
    expect(updatedTemplate(draft({ status: from }), { status: to }, later).status).toBe(to);
  });

  it.each([
    ['approved', 'draft'],
    ['archived', 'draft'],
    ['archived', 'approved'],
  ] as const)('refuses to move a template from %s to %s', (from, to) => {
    const error = conflict(() => updatedTemplate(draft({ status: from }), { status: to }, later));
    expect(error.message).toContain(`is ${from} and cannot become ${to}`);
  });

  it('refuses content changes to an approved template and says to create a new one', () => {
    const error = conflict(() => updatedTemplate(draft({ status: 'approved' }), { body: 'changed' }, later));
    expect(error.message).toContain('Create a new template');
    expect(error.details).toMatchObject({ fields: ['body'] });
  });

  it('refuses content changes to an archived template', () => {
    expect(() => updatedTemplate(draft({ status: 'archived' }), { name: 'other' }, later)).toThrow(
      ConflictError,
    );
  });

  it('accepts an approved template resent with its current content', () => {
    const approved = draft({ status: 'approved' });
    const next = updatedTemplate(
      approved,
      {
        status: 'archived',
        name: approved.name,
        body: approved.body,
        variableSchema: { ...approved.variableSchema },
      },
      later,
    );
    expect(next.status).toBe('archived');
  });

  it('returns the same template when nothing changes', () => {
    const approved = draft({ status: 'approved' });
    expect(updatedTemplate(approved, { status: 'approved' }, later)).toBe(approved);
  });
});

describe('the largest message of a template', () => {
  // No maxLength: each {{note}} may be 65,536 bytes (a recipient's values together), so two are over.
  const twice = {
    name: 'Notes',
    body: '{{note}} and again {{note}}',
    variableSchema: { note: { type: 'string' as const } },
  };

  it('refuses to create a template that could render over the limit, naming the variable, the size and the fix', () => {
    const error = badRequest(() => newTemplate(twice, ids));
    expect(error.message).toContain(`${2 * 65_536 + 11} bytes`);
    expect(error.message).toContain(`over the limit of ${MAX_RENDERED_BYTES} bytes`);
    expect(error.message).toContain('{{note}} appears 2 times');
    expect(error.message).toContain("add a maxLength to variable 'note'");
    expect(error.details).toEqual({
      field: 'variableSchema.note.maxLength',
      key: 'note',
      worstCaseBytes: 2 * 65_536 + 11,
      limitBytes: MAX_RENDERED_BYTES,
    });
  });

  it('accepts the same template once the variable has a maxLength', () => {
    const bounded = { ...twice, variableSchema: { note: { type: 'string' as const, maxLength: 1_000 } } };
    expect(newTemplate(bounded, ids).status).toBe('draft');
  });

  it('says to lower a maxLength that is already there', () => {
    const long = {
      ...twice,
      body: '{{note}}{{note}}{{note}}',
      variableSchema: { note: { type: 'string' as const, maxLength: 10_000 } },
    };
    const error = badRequest(() => newTemplate(long, ids));
    expect(error.message).toContain("lower the maxLength of variable 'note'");
  });

  it('refuses a draft edit that makes the template too large', () => {
    const error = badRequest(() =>
      updatedTemplate(
        draft(),
        { variableSchema: { name: { type: 'string' }, code: { type: 'number' } }, body: '{{name}} {{code}}' },
        later,
      ),
    );
    expect(error.details).toMatchObject({ field: 'variableSchema.name.maxLength' });
  });

  it('refuses to approve a draft stored before the rule, and still lets it be archived', () => {
    const legacy = draft({ body: twice.body, title: undefined, variableSchema: twice.variableSchema });
    const error = badRequest(() => updatedTemplate(legacy, { status: 'approved' }, later));
    expect(error.message).toContain(`over the limit of ${MAX_RENDERED_BYTES} bytes`);
    expect(updatedTemplate(legacy, { status: 'archived' }, later).status).toBe('archived');
  });
});
