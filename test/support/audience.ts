/**
 * The audience CSV that tests and benches both generate: `user_id` plus the three
 * variables of `audienceSchema`. No test framework here, so `bench/` imports it too.
 */

export const audienceSchema = {
  name: { type: 'string', required: true, maxLength: 20 },
  discount: { type: 'number', default: 0 },
  vip: { type: 'boolean' },
} as const;

/** The user id of row `i` (1-based): `u000001`, `u000002`, … */
export function audienceUserId(i: number): string {
  return `u${String(i).padStart(6, '0')}`;
}

/** The variables of row `i`, as the CSV writes them and the importer stores them. */
export function audienceVariables(i: number, name = (n: number) => `Name ${n}`) {
  return { name: name(i), discount: i % 50, vip: i % 2 === 0 };
}

/** `rows` recipients `u000001…` (from `start`) with every variable. */
export function audienceCsv(rows: number, start = 1, name = (i: number) => `Name ${i}`): string {
  const lines = ['user_id,name,discount,vip'];
  for (let i = start; i < start + rows; i += 1) {
    const v = audienceVariables(i, name);
    lines.push(`${audienceUserId(i)},${v.name},${v.discount},${v.vip}`);
  }
  return `${lines.join('\n')}\n`;
}
