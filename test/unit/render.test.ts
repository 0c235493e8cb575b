import { describe, expect, it } from 'vitest';
import { MAX_VARIABLES_BYTES } from '#shared/domain/csv-rules.ts';
import type { VariableSchema } from '#shared/domain/model.ts';
import {
  MAX_RENDERED_BYTES,
  MissingVariableError,
  placeholders,
  RenderedTooLargeError,
  render,
  renderedSizeBound,
} from '#shared/domain/render.ts';

const schema: VariableSchema = {
  name: { type: 'string', required: true },
  city: { type: 'string', default: 'your city' },
  count: { type: 'number' },
  vip: { type: 'boolean', default: false },
};

describe('placeholders', () => {
  it('lists each key once, in order of first appearance', () => {
    expect(placeholders('Hi {{name}}, {{count}} new in {{city}}. Bye {{name}}')).toEqual([
      'name',
      'count',
      'city',
    ]);
  });

  it('accepts whitespace inside the braces and returns the trimmed key', () => {
    expect(placeholders('{{ name }} {{\tcity\n}} {{count  }}')).toEqual(['name', 'city', 'count']);
  });

  it('returns nothing for text without placeholders or with single braces', () => {
    expect(placeholders('')).toEqual([]);
    expect(placeholders('plain { text } and {name}')).toEqual([]);
  });

  it('reports malformed names so template validation can reject them', () => {
    expect(placeholders('{{first-name}} {{}} {{ 1x }}')).toEqual(['first-name', '', '1x']);
  });
});

describe('render', () => {
  it('fills title and body from the recipient variables', () => {
    const result = render(
      { title: 'Hello {{name}}', body: '{{name}} has {{count}} messages', variableSchema: schema },
      { name: 'Ada', count: 3 },
    );
    expect(result).toEqual({ title: 'Hello Ada', body: 'Ada has 3 messages' });
  });

  it('omits title when the template has none', () => {
    const result = render({ body: 'Hi {{name}}', variableSchema: schema }, { name: 'Ada' });
    expect(result).toEqual({ body: 'Hi Ada' });
    expect('title' in result).toBe(false);
  });

  it('renders an empty title as an empty title', () => {
    expect(render({ title: '', body: 'x', variableSchema: schema }, {})).toEqual({ title: '', body: 'x' });
  });

  it('uses the schema default when the recipient has no value', () => {
    expect(render({ body: '{{name}} in {{city}}', variableSchema: schema }, { name: 'Ada' }).body).toBe(
      'Ada in your city',
    );
  });

  it("prefers the recipient's value over the default", () => {
    expect(render({ body: '{{city}}', variableSchema: schema }, { city: 'Paris' }).body).toBe('Paris');
  });

  it('renders an empty string value as empty, not as the default', () => {
    expect(render({ body: '[{{city}}]', variableSchema: schema }, { city: '' }).body).toBe('[]');
  });

  it('renders numbers and booleans with String()', () => {
    const result = render(
      { body: '{{count}} {{vip}} {{name}}', variableSchema: schema },
      { count: 1.5, vip: true, name: 'x' },
    );
    expect(result.body).toBe('1.5 true x');
    expect(render({ body: '{{count}} {{vip}}', variableSchema: schema }, { count: 0 }).body).toBe('0 false');
  });

  it('accepts whitespace inside the braces', () => {
    expect(
      render({ body: '{{ name }}/{{name}}/{{  name\t}}', variableSchema: schema }, { name: 'A' }).body,
    ).toBe('A/A/A');
  });

  it('inserts values verbatim, without HTML escaping', () => {
    expect(render({ body: '{{name}}', variableSchema: schema }, { name: '<b>"Tom" & Jerry</b>' }).body).toBe(
      '<b>"Tom" & Jerry</b>',
    );
  });

  it('never expands a placeholder that appears inside a value', () => {
    const result = render(
      { title: '{{name}}', body: '{{name}} from {{city}}', variableSchema: schema },
      { name: '{{city}}', city: '{{ name }}' },
    );
    expect(result).toEqual({ title: '{{city}}', body: '{{city}} from {{ name }}' });
  });

  it('treats $ patterns in values literally', () => {
    expect(render({ body: 'pay {{name}}', variableSchema: schema }, { name: "$& $1 $$ $'" }).body).toBe(
      "pay $& $1 $$ $'",
    );
  });

  it('leaves single braces and unmatched braces alone', () => {
    expect(render({ body: '{x} {{name} }}{', variableSchema: schema }, { name: 'A' }).body).toBe(
      '{x} {{name} }}{',
    );
  });

  it('throws a MissingVariableError naming the key when there is no value and no default', () => {
    const attempt = () => render({ body: 'Hi {{name}}', variableSchema: schema }, {});
    expect(attempt).toThrow(MissingVariableError);
    expect(attempt).toThrow(/'name'/);
    try {
      attempt();
    } catch (error) {
      expect((error as MissingVariableError).keys).toEqual(['name']);
      expect((error as MissingVariableError).name).toBe('MissingVariableError');
    }
  });

  it('names every missing key once, title keys first', () => {
    try {
      render({ title: '{{ count }}', body: '{{name}} {{count}} {{other}}', variableSchema: schema }, {});
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(MissingVariableError);
      expect((error as MissingVariableError).keys).toEqual(['count', 'name', 'other']);
      expect((error as Error).message).toContain("variables 'count', 'name', 'other'");
    }
  });

  it('treats a key outside the schema with no recipient value as missing', () => {
    expect(() => render({ body: '{{nickname}}', variableSchema: schema }, { name: 'A' })).toThrow(
      /'nickname'/,
    );
  });

  it('uses a recipient value even for a key outside the schema', () => {
    expect(render({ body: '{{nickname}}', variableSchema: {} }, { nickname: 'Al' }).body).toBe('Al');
  });

  it('does not read inherited properties such as constructor or __proto__', () => {
    expect(() => render({ body: '{{constructor}}', variableSchema: {} }, {})).toThrow(/'constructor'/);
    expect(() => render({ body: '{{toString}}', variableSchema: schema }, {})).toThrow(/'toString'/);
    expect(() => render({ body: '{{__proto__}}', variableSchema: {} }, {})).toThrow(MissingVariableError);
  });

  it('reports a malformed placeholder as missing rather than leaving it in the text', () => {
    expect(() => render({ body: 'x {{first-name}}', variableSchema: schema }, {})).toThrow(/'first-name'/);
  });

  it('renders a template without placeholders unchanged', () => {
    expect(render({ title: 'T', body: 'Plain body', variableSchema: {} }, {})).toEqual({
      title: 'T',
      body: 'Plain body',
    });
  });
});

describe('the largest message a template can render', () => {
  const bound = (title: string | undefined, body: string, variableSchema: VariableSchema) =>
    renderedSizeBound({ ...(title === undefined ? {} : { title }), body, variableSchema });

  it('is the static text alone, in UTF-8 bytes, when there are no placeholders', () => {
    // 'é' is 2 bytes, '😀' 4: bytes, not characters.
    expect(bound('Hé', 'hi 😀', {}).bytes).toBe(3 + 7);
  });

  it("counts each occurrence at the variable's maxLength, 4 bytes a character, title and body together", () => {
    const schema: VariableSchema = { name: { type: 'string', maxLength: 50 } };
    // Static: 'Hi ' (3) and ', hello ' (8) and '.' (1).
    expect(bound('Hi {{name}}', '{{ name }}, hello {{name}}.', schema).bytes).toBe(3 + 8 + 1 + 3 * 200);
  });

  it('counts a string without maxLength at the per-recipient limit, once for all such variables', () => {
    const schema: VariableSchema = { first: { type: 'string' }, last: { type: 'string' } };
    // One recipient's values together are at most MAX_VARIABLES_BYTES, however many variables.
    expect(bound(undefined, '{{first}} {{last}}', schema).bytes).toBe(1 + MAX_VARIABLES_BYTES);
  });

  it('gives the per-recipient limit to the variable used most: a repeated value is the worst case', () => {
    const schema: VariableSchema = { once: { type: 'string' }, thrice: { type: 'string' } };
    const result = bound(undefined, '{{once}}{{thrice}}{{thrice}}{{thrice}}', schema);
    expect(result.bytes).toBe(3 * MAX_VARIABLES_BYTES);
    expect(result.placeholders[0]).toMatchObject({
      key: 'thrice',
      occurrences: 3,
      bytesEach: MAX_VARIABLES_BYTES,
    });
  });

  it('caps a long maxLength at the per-recipient limit', () => {
    const schema: VariableSchema = { note: { type: 'string', maxLength: 10_000 } };
    // 10,000 characters may be 40,000 bytes; two such variables still share 65,536.
    expect(bound(undefined, '{{note}}', schema).bytes).toBe(40_000);
    const two: VariableSchema = {
      a: { type: 'string', maxLength: 10_000 },
      b: { type: 'string', maxLength: 10_000 },
    };
    expect(bound(undefined, '{{a}}{{b}}', two).bytes).toBe(MAX_VARIABLES_BYTES);
  });

  it('counts a number at 25 bytes and a boolean at 5, whatever the budget', () => {
    const schema: VariableSchema = { n: { type: 'number' }, b: { type: 'boolean' } };
    expect(bound(undefined, '{{n}}{{b}}{{b}}', schema).bytes).toBe(25 + 2 * 5);
    // The longest numbers String() writes are 25 characters.
    expect(String(-0.0000012345678901234567)).toHaveLength(25);
    expect(String(-1.2345678901234567e-100)).toHaveLength(24);
  });

  it("counts a string's default, which a recipient without a value gets, outside the recipient's budget", () => {
    const schema: VariableSchema = { greeting: { type: 'string', default: 'hello there' } };
    // A value of the whole budget, or the default: never both.
    expect(bound(undefined, '{{greeting}}', schema).bytes).toBe(MAX_VARIABLES_BYTES);
    // The budget goes to {{a}}; {{greeting}} may still insert its default (11 bytes).
    const two: VariableSchema = { ...schema, a: { type: 'string' } };
    expect(bound(undefined, '{{a}}{{a}}{{greeting}}', two).bytes).toBe(2 * MAX_VARIABLES_BYTES + 11);
  });

  it("reaches the issue's case: 2,000 placeholders of a 10,000-character variable", () => {
    const schema: VariableSchema = { v: { type: 'string', maxLength: 10_000 } };
    const result = bound(undefined, '{{v}}'.repeat(2_000), schema);
    expect(result.bytes).toBe(2_000 * 40_000);
    expect(result.bytes).toBeGreaterThan(MAX_RENDERED_BYTES);
  });
});

describe('render: the size of one message', () => {
  const note: VariableSchema = { note: { type: 'string' } };

  it(`renders a message of exactly MAX_RENDERED_BYTES (${MAX_RENDERED_BYTES}) bytes`, () => {
    const value = 'x'.repeat(MAX_RENDERED_BYTES / 2 - 1);
    const result = render({ title: 'T', body: '{{note}}{{note}}!', variableSchema: note }, { note: value });
    expect(Buffer.byteLength(`${result.title}${result.body}`)).toBe(MAX_RENDERED_BYTES);
  });

  it('refuses one byte more, counting UTF-8 bytes rather than characters', () => {
    // 'é' is one character and 2 bytes: MAX_RENDERED_BYTES characters, one byte over.
    const value = 'x'.repeat(MAX_RENDERED_BYTES / 2 - 1);
    const attempt = () =>
      render({ title: 'T', body: '{{note}}é{{note}}', variableSchema: note }, { note: value });
    expect(attempt).toThrow(RenderedTooLargeError);
    expect(attempt).toThrow(`over the limit of ${MAX_RENDERED_BYTES} bytes`);
  });

  it("stops at the limit on the issue's case and names the placeholder where it stopped", () => {
    const body = `Dear {{name}}, ${'{{v}}'.repeat(2_000)}`;
    const attempt = () =>
      render(
        { body, variableSchema: { name: { type: 'string' }, v: { type: 'string' } } },
        { name: 'Ada', v: 'y'.repeat(10_000) },
      );
    expect(attempt).toThrow(RenderedTooLargeError);
    expect(attempt).toThrow(/\{\{v\}\} in the body/);
  });

  it('counts the title and the body against one limit', () => {
    const value = 'z'.repeat(MAX_RENDERED_BYTES / 2 + 1);
    expect(() =>
      render({ title: '{{note}}', body: '{{note}}', variableSchema: note }, { note: value }),
    ).toThrow(/\{\{note\}\} in the body/);
    expect(() => render({ body: '{{note}}', variableSchema: note }, { note: value })).not.toThrow();
  });

  it('keeps its reason short enough to be stored whole on the recipient', () => {
    const attempt = () =>
      render({ body: '{{note}}{{note}}', variableSchema: note }, { note: 'a'.repeat(60_000) });
    expect(attempt).toThrow(RenderedTooLargeError);
    let message = '';
    try {
      attempt();
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.length).toBeGreaterThan(0);
    expect(message.length).toBeLessThanOrEqual(500);
  });
});
