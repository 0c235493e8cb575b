import { describe, expect, it } from 'vitest';
import {
  checkHeader,
  csvLine,
  MAX_VARIABLES_BYTES,
  NUMBER_PATTERN,
  neutralizeFormula,
  rowVariables,
  shownUserId,
  USER_ID_PATTERN,
  unneutralizeCell,
} from '#shared/domain/csv-rules.ts';
import type { VariableSchema } from '#shared/domain/model.ts';
import { InvalidInputError } from '#shared/errors.ts';

const schema: VariableSchema = {
  name: { type: 'string', maxLength: 5 },
  code: { type: 'string', required: true },
  greeting: { type: 'string', required: true, default: 'Hi' },
  discount: { type: 'number' },
  vip: { type: 'boolean', default: false },
};

function headerError(header: string[], s: VariableSchema = schema): InvalidInputError {
  try {
    checkHeader(header, s);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return error as InvalidInputError;
  }
  throw new Error('expected checkHeader to throw');
}

describe('checkHeader', () => {
  it('accepts user_id with variable columns in any order, optional ones left out', () => {
    expect(() => checkHeader(['code', 'user_id', 'vip'], schema)).not.toThrow();
  });

  it('rejects a column name with characters other than letters, digits, _ and -, naming it', () => {
    const error = headerError(['user_id', 'first name', 'code', '']);
    expect(error.message).toBe(
      "Invalid column name(s) in the header: 'first name', column 4 (empty). Column names may use only letters, digits, '_' and '-' (no spaces).",
    );
    expect(error.details).toEqual({ columns: ['first name', ''] });
    expect(error.code).toBe('ERR_BAD_REQUEST');
  });

  it('rejects duplicate column names, naming them', () => {
    expect(headerError(['user_id', 'code', 'code']).message).toBe(
      "Duplicate column name(s) in the header: 'code'. Give each column a distinct name.",
    );
  });

  it('rejects a header without user_id, hinting at a differently-cased one', () => {
    expect(headerError(['code']).message).toBe(
      "The header has no user_id column. Add a column named user_id holding each recipient's id.",
    );
    expect(headerError(['User_ID', 'code']).message).toBe(
      "The header has no user_id column ('User_ID' was found; names are case-sensitive). Add a column named user_id holding each recipient's id.",
    );
  });

  it('rejects columns that are not keys of the schema, listing the valid ones', () => {
    const error = headerError(['user_id', 'code', 'colour', 'size']);
    expect(error.message).toBe(
      "Unknown column(s) in the header: 'colour', 'size'. Every column other than user_id must be a variable of the template: name, code, greeting, discount, vip.",
    );
    expect(error.details).toEqual({
      columns: ['colour', 'size'],
      validColumns: ['user_id', 'name', 'code', 'greeting', 'discount', 'vip'],
    });
  });

  it('names the first 10 offending columns and how many more, so a 10,000-column header gives a short message', () => {
    const wide = ['user_id', 'code', ...Array.from({ length: 9_998 }, (_, i) => `c${i + 1}`)];
    const unknown = headerError(wide);
    expect(unknown.message).toBe(
      "Unknown column(s) in the header: 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8', 'c9', 'c10' and 9988 more. Every column other than user_id must be a variable of the template: name, code, greeting, discount, vip.",
    );
    expect((unknown.details as { columns: string[] }).columns).toHaveLength(100);
    const invalid = headerError([
      'user_id',
      ...Array.from({ length: 12 }, (_, i) => `bad ${i + 1}`),
      `${'x'.repeat(5000)}.`,
    ]);
    expect(invalid.message).toBe(
      `Invalid column name(s) in the header: 'bad 1', 'bad 2', 'bad 3', 'bad 4', 'bad 5', 'bad 6', 'bad 7', 'bad 8', 'bad 9', 'bad 10' and 3 more. Column names may use only letters, digits, '_' and '-' (no spaces).`,
    );
    // A long name is cut in the message.
    expect(headerError(['user_id', `${'y'.repeat(5000)} z`]).message).toContain(`'${'y'.repeat(40)}…'`);
  });

  it('says user_id is the only column allowed when the template has no variables', () => {
    expect(headerError(['user_id', 'x'], {}).message).toBe(
      "Unknown column(s) in the header: 'x'. The template has no variables, so user_id is the only column allowed.",
    );
  });

  it('rejects a header missing a required variable without a default, but not one with a default', () => {
    const error = headerError(['user_id', 'name']);
    expect(error.message).toBe(
      'Missing column(s) for required variable(s) without a default: code. Add them to the header.',
    );
    expect(error.details).toEqual({ columns: ['code'] });
  });
});

describe('rowVariables', () => {
  const header = ['user_id', 'name', 'code', 'discount', 'vip', 'greeting'];
  const row = (over: Partial<Record<string, string>> = {}) => {
    const values: Record<string, string> = {
      user_id: 'u1',
      name: 'Ada',
      code: 'X1',
      discount: '10',
      vip: 'true',
      greeting: 'Hello',
      ...over,
    };
    return header.map((h) => values[h] as string);
  };

  const check = (fields: string[]) => rowVariables(fields, header, schema);

  it('returns the typed variables of a valid row', () => {
    expect(check(row())).toEqual({ name: 'Ada', code: 'X1', discount: 10, vip: true, greeting: 'Hello' });
  });

  it('accepts user_id characters letters, digits and _ @ . : -', () => {
    expect(typeof check(row({ user_id: 'a_b@c.d:e-F9' }))).toBe('object');
    expect(USER_ID_PATTERN.test('a b')).toBe(false);
  });

  it('rejects an empty user_id', () => {
    expect(check(row({ user_id: '' }))).toBe('user_id: required, but empty');
  });

  it('rejects a user_id over 100 characters', () => {
    expect(check(row({ user_id: 'a'.repeat(101) }))).toBe('user_id: at most 100 characters, got 101');
    expect(typeof check(row({ user_id: 'a'.repeat(100) }))).toBe('object');
  });

  it('rejects a user_id with other characters, without trimming spaces', () => {
    expect(check(row({ user_id: ' u1' }))).toBe(
      "user_id: only letters, digits and _ @ . : - are allowed, got ' u1'",
    );
  });

  it('rejects a row with fewer or more fields than the header, naming the columns', () => {
    const h = ['user_id', 'name', 'code'];
    expect(rowVariables(['u1', 'Ada'], h, schema)).toBe('expected 3 fields (user_id,name,code), got 2');
    expect(rowVariables(['u1', 'Ada', 'X', 'extra'], h, schema)).toBe(
      'expected 3 fields (user_id,name,code), got 4',
    );
  });

  it("gives an empty cell the key's default, and omits an empty optional one", () => {
    expect(check(row({ greeting: '', vip: '', name: '', discount: '' }))).toEqual({
      code: 'X1',
      vip: false,
      greeting: 'Hi',
    });
  });

  it('rejects a row whose required variable without a default is empty', () => {
    expect(check(row({ code: '' }))).toBe('code: required, but empty and without a default');
  });

  it('parses numbers: optional minus, digits, optional fraction and exponent', () => {
    for (const [text, value] of [
      ['42', 42],
      ['-3.5', -3.5],
      ['007', 7],
      ['1e6', 1e6],
      ['2.5E-3', 0.0025],
      ['-0', 0],
    ] as const) {
      expect(check(row({ discount: text }))).toMatchObject({ discount: value });
    }
    for (const text of ['+1', ' 1', '1,000', '.5', '5.', '0x10', 'NaN', 'Infinity', '1e']) {
      expect(NUMBER_PATTERN.test(text), text).toBe(false);
    }
  });

  it('rejects a value that is not a number, quoting it', () => {
    expect(check(row({ discount: 'abc' }))).toBe("discount: expected a number, got 'abc'");
  });

  it('rejects a number that overflows to infinity', () => {
    expect(check(row({ discount: '1e999' }))).toBe("discount: expected a finite number, got '1e999'");
  });

  it('parses booleans true and false in any letter case, and nothing else', () => {
    expect(check(row({ vip: 'TRUE' }))).toMatchObject({ vip: true });
    expect(check(row({ vip: 'False' }))).toMatchObject({ vip: false });
    expect(check(row({ vip: 'yes' }))).toBe("vip: expected true or false, got 'yes'");
    expect(check(row({ vip: '1' }))).toBe("vip: expected true or false, got '1'");
  });

  it('counts maxLength in Unicode code points', () => {
    expect(check(row({ name: '😀😀😀😀😀' }))).toMatchObject({ name: '😀😀😀😀😀' });
    expect(check(row({ name: '😀😀😀😀😀😀' }))).toBe('name: at most 5 characters, got 6');
  });

  it('reports every problem of a row, and cuts long quoted values to 40 characters', () => {
    const long = 'x'.repeat(60);
    expect(check(row({ discount: long, vip: 'maybe' }))).toBe(
      `discount: expected a number, got '${'x'.repeat(40)}…'; vip: expected true or false, got 'maybe'`,
    );
  });

  it('keeps a variable named __proto__ as a plain property', () => {
    const odd: VariableSchema = JSON.parse('{"__proto__":{"type":"string"}}');
    const variables = rowVariables(['u1', 'v'], ['user_id', '__proto__'], odd);
    expect(typeof variables === 'object' && Object.hasOwn(variables, '__proto__')).toBe(true);
  });
});

describe('formula neutralising is reversed on import', () => {
  const values = [
    '=SUM(A1)',
    '+1',
    '-2',
    '@x',
    '\tx',
    '\rx',
    "'",
    "'abc",
    "'=x",
    "''",
    "'''+",
    'plain',
    '',
    'é🙂',
  ];

  it('reads every neutralised value back as the value it was written from', () => {
    expect(values.map((v) => unneutralizeCell(neutralizeFormula(v)))).toEqual(values);
  });

  it("keeps a cell whose ' no neutralising would have added", () => {
    expect(unneutralizeCell("'abc")).toBe("'abc");
    expect(unneutralizeCell("'")).toBe("'");
    expect(unneutralizeCell("'=x")).toBe('=x');
  });

  it('reads user_id and every variable through it, numbers included', () => {
    const variables = rowVariables(["'@bob", "'=1", "'-2"], ['user_id', 'name', 'n'], {
      name: { type: 'string' },
      n: { type: 'number' },
    });
    expect(variables).toEqual({ name: '=1', n: -2 });
    // `'@bob` would break the user_id rule: it is read as `@bob` before it is checked.
    expect(rowVariables(["'@bob"], ['user_id'], {})).toEqual({});
    expect(rowVariables(["''@bob"], ['user_id'], {})).toMatch(/^user_id: only letters/);
  });

  it('ignores the status and error columns of an export unless the template has such variables', () => {
    expect(() =>
      checkHeader(['user_id', 'name', 'status', 'error'], { name: { type: 'string' } }),
    ).not.toThrow();
    const own: VariableSchema = { status: { type: 'string' } };
    expect(rowVariables(['u1', 'gold'], ['user_id', 'status'], own)).toEqual({ status: 'gold' });
  });
});

describe('rejections report', () => {
  it('neutralises values that a spreadsheet would run as a formula', () => {
    for (const value of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx']) {
      expect(neutralizeFormula(value)).toBe(`'${value}`);
    }
    expect(neutralizeFormula('u1')).toBe('u1');
    expect(neutralizeFormula('')).toBe('');
  });

  it("neutralises a leading ' that a reader would otherwise strip, and nothing else", () => {
    expect(neutralizeFormula("'=x")).toBe("''=x");
    expect(neutralizeFormula("''")).toBe("'''");
    expect(neutralizeFormula("'abc")).toBe("'abc");
    expect(neutralizeFormula("'")).toBe("'");
  });

  it('writes one RFC 4180 line with CRLF, quoting commas, quotes and line breaks', () => {
    expect(csvLine([2, 'u1', 'a, "b"\nc'])).toBe('2,u1,"a, ""b""\nc"\r\n');
    expect(csvLine([3, '=HYPERLINK("x")', 'ok'])).toBe('3,"\'=HYPERLINK(""x"")",ok\r\n');
    expect(csvLine([-1])).toBe('-1\r\n');
  });
});

describe('the size of a rejection', () => {
  // The most a template allows: 50 keys of 64 characters.
  const keys = Array.from({ length: 50 }, (_, i) => `k${String(i).padStart(2, '0')}${'_'.repeat(61)}`);
  const wide: VariableSchema = Object.fromEntries(
    keys.map((key, i) => [key, { type: i % 2 === 0 ? 'number' : 'boolean' }]),
  );
  const header = ['user_id', ...keys];

  it('names the first 5 problems of a row, then how many more, with the fix', () => {
    const bad = (n: number) => keys.map((_, i) => (i < n ? 'x' : i % 2 === 0 ? '1' : 'true'));
    expect(rowVariables(['u1', ...bad(5)], header, wide)).not.toContain('more problem');
    expect(rowVariables(['u1', ...bad(6)], header, wide)).toMatch(
      new RegExp(
        `^${keys[0]}: expected a number, got 'x'; .*; ${keys[4]}: expected a number, got 'x'; and 1 more problem in other columns of this row: fix these, then upload the file again$`,
      ),
    );
    expect(rowVariables([' bad id', ...bad(50)], header, wide)).toMatch(
      /^user_id: only letters.*; and 46 more problems in other columns of this row/,
    );
  });

  it('keeps a reason within 1,000 characters and a report line within 2 KiB, whatever the cells hold', () => {
    // Four-byte characters make the most UTF-8; quotes make the most CSV escaping.
    for (const cell of ['😀'.repeat(500), '"'.repeat(500), `=${'é"'.repeat(300)}`]) {
      const reason = String(rowVariables([cell, ...keys.map(() => cell)], header, wide));
      expect(reason, cell.slice(0, 4)).toMatch(/; and 46 more problems in other columns of this row/);
      expect(Array.from(reason).length, cell.slice(0, 4)).toBeLessThanOrEqual(1000);
      // The row number of a 50 MiB file of blank lines has 8 digits.
      const line = csvLine([99_999_999, shownUserId(cell), reason]);
      expect(Buffer.byteLength(line), cell.slice(0, 4)).toBeLessThanOrEqual(2048);
    }
  });
});

describe('the size of one recipient', () => {
  const header = ['user_id', 'note', 'other'];
  const schema = { note: { type: 'string' }, other: { type: 'string' } } as const;

  it('accepts variable values up to 64 KiB together, counted in UTF-8 bytes', () => {
    expect(rowVariables(['u1', 'x'.repeat(MAX_VARIABLES_BYTES - 1), 'y'], header, schema)).toEqual({
      note: 'x'.repeat(MAX_VARIABLES_BYTES - 1),
      other: 'y',
    });
    // 2 bytes each in UTF-8: 32,768 of them are the limit exactly.
    expect(typeof rowVariables(['u1', 'é'.repeat(32_768), ''], header, schema)).toBe('object');
  });

  it('rejects a row over it, naming the bytes, the limit and the fix', () => {
    expect(rowVariables(['u1', 'x'.repeat(MAX_VARIABLES_BYTES), 'y'], header, schema)).toBe(
      `the variable values are ${MAX_VARIABLES_BYTES + 1} bytes together, over the limit of ${MAX_VARIABLES_BYTES} bytes per recipient: shorten them (a maxLength in the template's schema states the limit per variable)`,
    );
    expect(rowVariables(['u1', 'é'.repeat(32_769), ''], header, schema)).toMatch(/65538 bytes together/);
  });

  it('counts a default that fills an empty cell, since it is stored with the recipient', () => {
    const withDefault = {
      note: { type: 'string' },
      other: { type: 'string', default: 'd'.repeat(61_000) },
    } as const;
    expect(rowVariables(['u1', 'x'.repeat(5_000), ''], header, withDefault)).toMatch(
      /^the variable values are 66000 bytes together, over the limit of 65536 bytes/,
    );
    expect(rowVariables(['u1', 'x'.repeat(4_000), ''], header, withDefault)).toEqual({
      note: 'x'.repeat(4_000),
      other: 'd'.repeat(61_000),
    });
  });

  it('counts the bytes as JSON writes them: a control character takes 6, a quote or backslash 2', () => {
    // 11,000 bytes in the file; 66,000 in the table and in a delivery message.
    expect(rowVariables(['u1', '\u0001'.repeat(11_000), ''], header, schema)).toMatch(
      /^the variable values are 66000 bytes together, over the limit of 65536 bytes/,
    );
    expect(rowVariables(['u1', '"'.repeat(32_769), ''], header, schema)).toMatch(/65538 bytes together/);
    expect(rowVariables(['u1', '\u0001'.repeat(10_922), ''], header, schema)).toEqual({
      note: '\u0001'.repeat(10_922),
    });
  });
});
