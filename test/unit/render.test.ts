import { describe, expect, it } from 'vitest';
import type { VariableSchema } from '#shared/domain/model.ts';
import { MissingVariableError, placeholders, render } from '#shared/domain/render.ts';

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
