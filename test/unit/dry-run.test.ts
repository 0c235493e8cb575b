import { describe, expect, it } from 'vitest';
import { dryRunUpload, PREVIEW_KEPT_BYTES, PREVIEW_TEXT_CHARS } from '#shared/domain/dry-run.ts';
import type { VariableSchema } from '#shared/domain/model.ts';

async function* chunks(text: string): AsyncGenerator<Uint8Array> {
  yield Buffer.from(text);
}

const schema: VariableSchema = { name: { type: 'string', required: true }, note: { type: 'string' } };
const template = { title: 'For {{name}}', body: '{{note}}', variableSchema: schema };

describe('dryRunUpload: the preview', () => {
  it('names the reason a row cannot be rendered (a variable with no value and no default)', async () => {
    const outcome = await dryRunUpload(
      async () => chunks('user_id,name,note\nu1,Ada,\nu2,Bob,hi\n'),
      template,
    );
    expect(outcome.ok && outcome.preview).toEqual([
      {
        row: 2,
        userId: 'u1',
        variables: { name: 'Ada' },
        renderError: expect.stringContaining("'note'"),
      },
      {
        row: 3,
        userId: 'u2',
        variables: { name: 'Bob', note: 'hi' },
        rendered: { title: 'For Bob', body: 'hi' },
      },
    ]);
  });

  it('cuts long texts to PREVIEW_TEXT_CHARS characters, rendering from the whole values', async () => {
    const long = 'é'.repeat(10_000);
    const rows = Array.from({ length: 6 }, (_, i) => `u${i},${long},${long}`).join('\n');
    const outcome = await dryRunUpload(async () => chunks(`user_id,name,note\n${rows}\n`), template);
    if (!outcome.ok) throw new Error(outcome.error.message);
    const cut = `${'é'.repeat(PREVIEW_TEXT_CHARS)}…`;
    expect(outcome.preview[0]).toEqual({
      row: 2,
      userId: 'u0',
      variables: { name: cut, note: cut },
      rendered: { title: `For ${'é'.repeat(PREVIEW_TEXT_CHARS - 4)}…`, body: cut },
      truncated: true,
    });
    expect(outcome.preview.map((p) => p.userId)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4']);
  });

  it('keeps the preview within PREVIEW_KEPT_BYTES, leaving out the rows past it', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    const wide: VariableSchema = Object.fromEntries(keys.map((k) => [k, { type: 'string' }]));
    const value = 'é'.repeat(PREVIEW_TEXT_CHARS);
    const row = (id: string) => [id, ...keys.map(() => value)].join(',');
    const file = `user_id,${keys.join(',')}\n${['a', 'b', 'c'].map(row).join('\n')}\n`;
    const outcome = await dryRunUpload(async () => chunks(file), { body: 'hi', variableSchema: wide });
    if (!outcome.ok) throw new Error(outcome.error.message);
    // One entry is about 40 KB: a second would pass the budget.
    expect(outcome.preview.map((p) => p.userId)).toEqual(['a']);
    expect(Buffer.byteLength(JSON.stringify(outcome.preview))).toBeLessThanOrEqual(PREVIEW_KEPT_BYTES);
    // The counts are the whole file's, however little the preview shows.
    expect(outcome.totals).toMatchObject({ rowsRead: 3, valid: 3, rejected: 0 });
  });
});
