/**
 * The CSV rules of docs/csv.md, as pure functions: the header
 * check, the check of one data row, and the CSV writing of the rejections report.
 * Reading the bytes (encoding, delimiter, row count) is `csv-stream.ts`.
 *
 * The rules of a recipient are written here once and followed by every path that adds
 * one: a CSV row, an inline add and a one-call send (`variables.ts` checks their JSON
 * values). They are the `user_id` rule (`userIdProblem`, `invalidUserIdsError`), a
 * string's length (`maxLengthProblem`), a number's stored form (`storedNumber`), what an
 * empty value stores (`emptyValue`) and the size of a recipient's values together
 * (`variablesSizeProblem`), so a recipient is refused, or stored, the same way on each.
 *
 * Value syntax, decided here and documented in docs and messages:
 *
 * - `user_id`: 1-100 characters of `[A-Za-z0-9_@.:-]`, kept exactly as written (a
 *   string: `007` stays `007`; nothing is trimmed).
 * - `number`: `NUMBER_PATTERN`, an optional `-`, digits, an optional fraction with at
 *   least one digit, an optional exponent (`42`, `-3.5`, `007`, `1e6`, `2.5E-3`). No
 *   `+`, no spaces, no thousands separators, no `.5` / `5.`, no hex, no `NaN` /
 *   `Infinity`; a value that overflows to infinity (`1e999`) is rejected. Parsed as
 *   an IEEE double (`-0` becomes `0`).
 * - `boolean`: `true` or `false` in any letter case (`TRUE` / `FALSE` as
 *   spreadsheets write them). Nothing else (`1`, `yes`) is a boolean.
 * - `string`: any text; `maxLength` counts Unicode code points.
 * - An empty cell takes the key's `default` (copied into the row's variables); without
 *   a default it is omitted, and for a `required` key it rejects the row.
 */
import type { VariableSchema, VariableSpec, VariableValue } from '#shared/domain/model.ts';
import { InvalidInputError } from '#shared/errors.ts';

/** At most this many data rows per file (docs/csv.md). */
export const MAX_DATA_ROWS = 100_000;
/** A `user_id` value: these characters, 1 to `USER_ID_MAX_LENGTH` of them. */
export const USER_ID_PATTERN = /^[A-Za-z0-9_@.:-]+$/;
export const USER_ID_MAX_LENGTH = 100;
/** A header name. */
export const COLUMN_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;
/** The syntax of a `number` cell (see the module comment). */
export const NUMBER_PATTERN = /^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$/;
/** Values quoted in rejection reasons are cut to this many characters, with `…`. */
export const QUOTED_VALUE_MAX = 40;
/**
 * A rejected row's reason names at most this many of its problems (in column order,
 * `user_id` first), then how many more there are. With the values cut to
 * `QUOTED_VALUE_MAX` and variable keys of at most 64 characters, a reason is then at most
 * 1,000 characters and its report line at most 2 KiB, however many cells are bad
 * (docs/csv.md; test/unit/csv-rules.test.ts checks the worst case). Unbounded, 50 bad
 * cells made a 6.6 KB reason, and 100 of them an upload item DynamoDB refuses.
 */
export const ROW_PROBLEMS_NAMED = 5;
/**
 * Most bytes of one recipient's variable values together, as JSON writes them (what the
 * table stores and a delivery message carries): UTF-8, with a control character taking
 * 6 bytes (`\u0001`) and `"` or `\` 2. For plain text that is the bytes of the cells. A recipient
 * then always fits a DynamoDB item (400 KB) and a delivery message (256 KB) with room to
 * spare; without it, a long value in a variable without `maxLength` could make an item the
 * table refuses in the middle of an import, or a recipient no message can carry.
 */
export const MAX_VARIABLES_BYTES = 64 * 1024;

/** Bytes of one value as JSON writes it, without a string's quotes (see `MAX_VARIABLES_BYTES`). */
export function encodedValueBytes(value: VariableValue): number {
  return typeof value === 'string'
    ? Buffer.byteLength(JSON.stringify(value), 'utf8') - 2
    : String(value).length;
}

/** Bytes of one recipient's variable values together, as JSON writes them (`MAX_VARIABLES_BYTES`). */
export function variablesBytes(values: Readonly<Record<string, VariableValue>>): number {
  let bytes = 0;
  for (const value of Object.values(values)) bytes += encodedValueBytes(value);
  return bytes;
}

/**
 * Most bytes one UTF-16 code unit of a value takes as JSON writes it (`\u0001`): values
 * of fewer code units than `MAX_VARIABLES_BYTES / MAX_ENCODED_BYTES_PER_UNIT` always fit.
 */
const MAX_ENCODED_BYTES_PER_UNIT = 6;

/** The reason a recipient's variable values are too large together, or undefined. */
export function variablesSizeProblem(bytes: number): string | undefined {
  return bytes > MAX_VARIABLES_BYTES
    ? `the variable values are ${bytes} bytes together, over the limit of ${MAX_VARIABLES_BYTES} bytes per recipient: shorten them (a maxLength in the template's schema states the limit per variable)`
    : undefined;
}

const USER_ID = 'user_id';

/**
 * Columns an export of a campaign's recipients adds after the variables
 * (docs/api.md, "Exporting recipients"). A header may hold them: unless the template has
 * variables of these names, they are ignored, so an export uploads back as it is.
 */
export const EXPORT_COLUMNS: readonly string[] = ['status', 'error'];

/** `'abc'`, cut to `QUOTED_VALUE_MAX` code points with `…`. */
function quote(value: string): string {
  if (value.length <= QUOTED_VALUE_MAX) return `'${value}'`;
  const points = Array.from(value);
  return points.length <= QUOTED_VALUE_MAX
    ? `'${value}'`
    : `'${points.slice(0, QUOTED_VALUE_MAX).join('')}…'`;
}

/** Characters of a string as every rule counts them: Unicode code points. */
function codePointLength(value: string): number {
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    // A high surrogate followed by a low one is one code point.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length) {
      const d = value.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/**
 * The problem with a string value over `max` characters (`at most 5 characters, got 6`),
 * counted in code points, or undefined when it fits (or there is no `max`).
 */
export function maxLengthProblem(max: number | undefined, value: string): string | undefined {
  // A string has at least as many UTF-16 units as code points: most need no counting.
  if (max === undefined || value.length <= max) return undefined;
  const length = codePointLength(value);
  return length > max ? `at most ${max} characters, got ${length}` : undefined;
}

/** A number as a recipient stores it: an IEEE double, `-0` as `0`. */
export function storedNumber(value: number): number {
  return value === 0 ? 0 : value;
}

/**
 * What an empty value stores (an empty CSV cell, or `""` given inline): the key's
 * `default`, copied into the recipient's variables (and counted in its size), or
 * undefined, when the key has none: then it is left out, and refused if `required`.
 */
export function emptyValue(spec: VariableSpec): VariableValue | undefined {
  return spec.default;
}

/** Header messages name at most this many columns ("and N more"), details list at most `LISTED_COLUMNS_MAX`. */
export const NAMED_COLUMNS_MAX = 10;
export const LISTED_COLUMNS_MAX = 100;

/** `'a', 'b' and 3 more`: a header of thousands of columns gives a message a person can read. */
function list(names: readonly string[]): string {
  const shown = names.slice(0, NAMED_COLUMNS_MAX).map((n) => (n === '' ? '(empty)' : quote(n)));
  const more = names.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}

/** The columns of an error's details, at most `LISTED_COLUMNS_MAX` of them. */
function listed(names: readonly string[]): string[] {
  return names.length > LISTED_COLUMNS_MAX ? names.slice(0, LISTED_COLUMNS_MAX) : [...names];
}

/**
 * Throws `InvalidInputError` when the header breaks a rule. The checks run in this order
 * and the first failing one is reported (fixing it often fixes the next): column names,
 * uniqueness, `user_id`, unknown columns, required columns. The message names the
 * offending columns and the fix; `details.columns` lists them.
 */
export function checkHeader(header: readonly string[], schema: VariableSchema): void {
  const invalid: string[] = [];
  let invalidCount = 0;
  header.forEach((name, i) => {
    if (COLUMN_NAME_PATTERN.test(name)) return;
    if (++invalidCount <= NAMED_COLUMNS_MAX)
      invalid.push(name === '' ? `column ${i + 1} (empty)` : quote(name));
  });
  if (invalidCount > 0) {
    const more = invalidCount > invalid.length ? ` and ${invalidCount - invalid.length} more` : '';
    throw new InvalidInputError(
      `Invalid column name(s) in the header: ${invalid.join(', ')}${more}. Column names may use only letters, digits, '_' and '-' (no spaces).`,
      { columns: listed(header.filter((name) => !COLUMN_NAME_PATTERN.test(name))) },
    );
  }

  const seen = new Set<string>();
  const duplicates = new Set<string>();
  for (const name of header) {
    if (seen.has(name)) duplicates.add(name);
    seen.add(name);
  }
  if (duplicates.size > 0) {
    throw new InvalidInputError(
      `Duplicate column name(s) in the header: ${list([...duplicates])}. Give each column a distinct name.`,
      { columns: listed([...duplicates]) },
    );
  }

  if (!seen.has(USER_ID)) {
    const near = header.find((name) => name.toLowerCase().replace(/-/g, '_') === USER_ID);
    const hint = near === undefined ? '' : ` ('${near}' was found; names are case-sensitive)`;
    throw new InvalidInputError(
      `The header has no user_id column${hint}. Add a column named user_id holding each recipient's id.`,
      { columns: [USER_ID] },
    );
  }

  const keys = Object.keys(schema);
  const unknown = header.filter(
    (name) => name !== USER_ID && !Object.hasOwn(schema, name) && !EXPORT_COLUMNS.includes(name),
  );
  if (unknown.length > 0) {
    const valid =
      keys.length === 0
        ? 'The template has no variables, so user_id is the only column allowed.'
        : `Every column other than user_id must be a variable of the template: ${keys.join(', ')}.`;
    throw new InvalidInputError(`Unknown column(s) in the header: ${list(unknown)}. ${valid}`, {
      columns: listed(unknown),
      validColumns: [USER_ID, ...keys],
    });
  }

  const missing = keys.filter(
    (key) => schema[key]?.required === true && schema[key]?.default === undefined && !seen.has(key),
  );
  if (missing.length > 0) {
    throw new InvalidInputError(
      `Missing column(s) for required variable(s) without a default: ${missing.join(', ')}. Add them to the header.`,
      { columns: missing },
    );
  }
}

interface Column {
  index: number;
  key: string;
  spec: VariableSpec;
}

/** What `rowVariables` derives from a header and schema once (cached for the last pair seen). */
interface Plan {
  header: readonly string[];
  schema: VariableSchema;
  userIdIndex: number;
  columns: Column[];
  /** `expected 3 fields (user_id,name,code)`. */
  expected: string;
}

let lastPlan: Plan | undefined;

function planFor(header: readonly string[], schema: VariableSchema): Plan {
  if (lastPlan !== undefined && lastPlan.header === header && lastPlan.schema === schema) return lastPlan;
  const columns: Column[] = [];
  header.forEach((key, index) => {
    const spec = key === USER_ID || !Object.hasOwn(schema, key) ? undefined : schema[key];
    if (spec !== undefined) columns.push({ index, key, spec });
  });
  let names = header.join(',');
  if (names.length > 200) names = `${names.slice(0, 200)}…`;
  lastPlan = {
    header,
    schema,
    userIdIndex: header.indexOf(USER_ID),
    columns,
    expected: `expected ${header.length} field${header.length === 1 ? '' : 's'} (${names})`,
  };
  return lastPlan;
}

/** The user id as shown in a rejection: as written, cut to 100 code points. */
export function shownUserId(value: string | undefined): string {
  if (value === undefined) return '';
  if (value.length <= USER_ID_MAX_LENGTH) return value;
  const points = Array.from(value);
  return points.length <= USER_ID_MAX_LENGTH ? value : `${points.slice(0, USER_ID_MAX_LENGTH).join('')}…`;
}

/**
 * The problem with a user id (`required, but empty`, `at most 100 characters, got 123`,
 * `only letters, digits and _ @ . : - are allowed, got ' u1'`), or undefined when it
 * follows the rule: 1 to `USER_ID_MAX_LENGTH` characters of `USER_ID_PATTERN`. A CSV row's
 * reason and an API body's error give it in these words.
 */
export function userIdProblem(value: string): string | undefined {
  if (value === '') return 'required, but empty';
  if (value.length > USER_ID_MAX_LENGTH)
    return `at most ${USER_ID_MAX_LENGTH} characters, got ${codePointLength(value)}`;
  if (!USER_ID_PATTERN.test(value))
    return `only letters, digits and _ @ . : - are allowed, got ${quote(value)}`;
  return undefined;
}

/** An API error names at most this many invalid user ids, then counts the rest. */
const INVALID_USER_IDS_NAMED = 5;
/** `details.invalid` of that error lists at most this many. */
const INVALID_USER_IDS_LISTED = 100;

/**
 * The `400 ERR_BAD_REQUEST` for the user ids of a request body (`userIds` of an inline
 * add, `targets` of a one-call send) that break the `user_id` rule, or undefined when none
 * does. The message names the first few by their place in `field`, each with the reason a
 * CSV row would get (`targets[2]: required, but empty`); `details.invalid` lists them.
 */
export function invalidUserIdsError(
  field: string,
  userIds: readonly string[],
): InvalidInputError | undefined {
  const named: string[] = [];
  const invalid: string[] = [];
  let count = 0;
  userIds.forEach((userId, i) => {
    const problem = userIdProblem(userId);
    if (problem === undefined) return;
    count++;
    if (named.length < INVALID_USER_IDS_NAMED) named.push(`${field}[${i}]: ${problem}`);
    if (invalid.length < INVALID_USER_IDS_LISTED) invalid.push(userId);
  });
  if (count === 0) return undefined;
  const more = count - named.length;
  return new InvalidInputError(
    `Invalid user ids: ${named.join('; ')}${more > 0 ? `; and ${more} more` : ''}.`,
    { field, invalid },
  );
}

/** The value of a non-empty cell, or its problem. */
function parseValue(key: string, spec: VariableSpec, raw: string): VariableValue | { problem: string } {
  switch (spec.type) {
    case 'string': {
      const tooLong = maxLengthProblem(spec.maxLength, raw);
      return tooLong === undefined ? raw : { problem: `${key}: ${tooLong}` };
    }
    case 'number': {
      if (!NUMBER_PATTERN.test(raw)) return { problem: `${key}: expected a number, got ${quote(raw)}` };
      const n = Number(raw);
      if (!Number.isFinite(n)) return { problem: `${key}: expected a finite number, got ${quote(raw)}` };
      return storedNumber(n);
    }
    case 'boolean': {
      if (raw.length === 4 || raw.length === 5) {
        const lower = raw.toLowerCase();
        if (lower === 'true') return true;
        if (lower === 'false') return false;
      }
      return { problem: `${key}: expected true or false, got ${quote(raw)}` };
    }
  }
}

/**
 * Validates one data row against the (already checked) header, in the hot loop of
 * `validateCsv`; columns that are not keys of the schema are ignored. Returns the row's
 * variables, or the reason it is rejected, naming every problem of the row (up to
 * `ROW_PROBLEMS_NAMED`), joined by `; `. When it returns variables, the user id is
 * `unneutralizeCell` of the `user_id` field (valid); when it returns a reason, show the
 * user id with `shownUserId`. Every cell is read through `unneutralizeCell` first.
 */
export function rowVariables(
  fields: readonly string[],
  header: readonly string[],
  schema: VariableSchema,
): Record<string, VariableValue> | string {
  const plan = planFor(header, schema);
  if (fields.length !== header.length) return `${plan.expected}, got ${fields.length}`;
  const userId = unneutralizeCell((plan.userIdIndex >= 0 ? fields[plan.userIdIndex] : undefined) ?? '');
  let problems: string[] | undefined;
  const idProblem = userIdProblem(userId);
  if (idProblem !== undefined) problems = [`user_id: ${idProblem}`];

  const variables: Record<string, VariableValue> = {};
  const columns = plan.columns;
  // UTF-16 units of the values: JSON takes at most 6 bytes per unit, so only a row that
  // might be over MAX_VARIABLES_BYTES has its bytes counted.
  let units = 0;
  for (let c = 0; c < columns.length; c++) {
    const { index, key, spec } = columns[c] as Column;
    const raw = unneutralizeCell(fields[index] as string);
    units += raw.length;
    let value: VariableValue | { problem: string } | undefined;
    if (raw === '') {
      value = emptyValue(spec);
      // A default is stored with the recipient: it counts towards its size.
      if (typeof value === 'string') units += value.length;
      if (value === undefined && spec.required === true) {
        value = { problem: `${key}: required, but empty and without a default` };
      }
    } else {
      value = parseValue(key, spec, raw);
    }
    if (value === undefined) continue;
    if (typeof value === 'object') {
      if (problems === undefined) problems = [value.problem];
      else problems.push(value.problem);
    }
    // defineProperty keeps a key named `__proto__` a plain property.
    else if (key === '__proto__')
      Object.defineProperty(variables, key, { value, enumerable: true, writable: true, configurable: true });
    else variables[key] = value;
  }
  if (problems !== undefined) return reasonOf(problems);
  if (units * MAX_ENCODED_BYTES_PER_UNIT > MAX_VARIABLES_BYTES) {
    const tooLarge = variablesSizeProblem(variablesBytes(variables));
    if (tooLarge !== undefined) return tooLarge;
  }
  return variables;
}

/** The reason of a rejected row: its first `ROW_PROBLEMS_NAMED` problems, then how many more. */
function reasonOf(problems: readonly string[]): string {
  if (problems.length <= ROW_PROBLEMS_NAMED) return problems.join('; ');
  const more = problems.length - ROW_PROBLEMS_NAMED;
  return `${problems.slice(0, ROW_PROBLEMS_NAMED).join('; ')}; and ${more} more problem${more === 1 ? '' : 's'} in other columns of this row: fix these, then upload the file again`;
}

/** = + - @ tab CR: a cell starting with one of these is a formula to a spreadsheet. */
function startsFormula(c: number): boolean {
  return c === 0x3d || c === 0x2b || c === 0x2d || c === 0x40 || c === 0x09 || c === 0x0d;
}

const APOSTROPHE = 0x27;

/**
 * Spreadsheet formula neutralising, reversible (docs/csv.md, "Formula-looking values"):
 * a value starting with = + - @ tab or CR gets a leading `'`, and so does a value that
 * starts with `'` followed by one of these or by another `'` (so that the `'` a reader
 * strips, `unneutralizeCell`, is always one this function added). Any other value is
 * written as it is: `'abc` stays `'abc`.
 */
export function neutralizeFormula(value: string): string {
  const c = value.charCodeAt(0);
  if (startsFormula(c)) return `'${value}`;
  if (c === APOSTROPHE) {
    const d = value.charCodeAt(1);
    if (startsFormula(d) || d === APOSTROPHE) return `'${value}`;
  }
  return value;
}

/**
 * The inverse of `neutralizeFormula`, applied by the importer to every cell (user_id
 * included): a cell that starts with `'` followed by = + - @ tab CR or `'` loses that
 * first `'`; any other cell is kept as it is. An exported file (or one a tool neutralised
 * the same way) uploads back to the values it was written from.
 */
export function unneutralizeCell(cell: string): string {
  if (cell.charCodeAt(0) !== APOSTROPHE) return cell;
  const d = cell.charCodeAt(1);
  return startsFormula(d) || d === APOSTROPHE ? cell.slice(1) : cell;
}

const NEEDS_QUOTES = /[",\r\n]/;

/**
 * One CSV line: each string cell neutralised (`neutralizeFormula`), quoted per RFC 4180
 * when it holds a comma, quote, CR or LF; numbers written as they are; ends with CRLF.
 */
export function csvLine(cells: readonly (string | number)[]): string {
  let line = '';
  for (let i = 0; i < cells.length; i++) {
    const cell = cells[i];
    let text = typeof cell === 'number' ? String(cell) : neutralizeFormula(cell ?? '');
    if (NEEDS_QUOTES.test(text)) text = `"${text.replace(/"/g, '""')}"`;
    line += i === 0 ? text : `,${text}`;
  }
  return `${line}\r\n`;
}
