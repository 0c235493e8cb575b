/**
 * The copies of the API's lists and types that cannot import the one definition: the
 * enums and the user id schema of openapi.yaml, and the types the dashboard and the CLI
 * declare by hand for the views they read. Each is checked against its source here, so a
 * change to one that forgets the other fails a test.
 */
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { dashboardBuildOptions } from '#infra/local/dashboard.ts';
import {
  CAMPAIGN_STATUSES,
  CAMPAIGN_TRANSITIONS,
  FINAL_CAMPAIGN_STATUSES,
} from '#shared/domain/campaign-status.ts';
import { FOLLOW_UP_STATUSES } from '#shared/domain/campaigns.ts';
import { USER_ID_MAX_LENGTH, USER_ID_PATTERN } from '#shared/domain/csv-rules.ts';
import { RECIPIENT_STATUSES } from '#shared/domain/model.ts';

const root = new URL('../../', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, root), 'utf8');
const openapi = parse(read('openapi.yaml'));
const schemas = openapi.components.schemas;

/** The statuses a description names in backticks, in its order. */
function namedStatuses(description: string): string[] {
  const statuses: readonly string[] = CAMPAIGN_STATUSES;
  return [...description.matchAll(/`(\w+)`/g)].map((m) => m[1] as string).filter((s) => statuses.includes(s));
}

describe('openapi.yaml', () => {
  it('lists the campaign statuses of the state machine, in its order', () => {
    expect(schemas.CampaignStatus.enum).toEqual([...CAMPAIGN_STATUSES]);
  });

  it('lists the recipient statuses of the model, in its order', () => {
    expect(schemas.RecipientStatus.enum).toEqual([...RECIPIENT_STATUSES]);
  });

  it('gives the user_id rule of the CSV', () => {
    expect(schemas.UserId).toMatchObject({
      type: 'string',
      minLength: 1,
      maxLength: USER_ID_MAX_LENGTH,
      pattern: USER_ID_PATTERN.source,
    });
  });

  it('answers a send with the statuses a draft is sent to, and names the final ones where a cancel or a follow-up needs them', () => {
    const send = openapi.paths['/api/campaigns/{id}/send'].post.responses['202'];
    const sentTo = send.content['application/json'].schema.properties.data.properties.status.enum;
    expect([...sentTo].sort()).toEqual(CAMPAIGN_TRANSITIONS.draft.filter((s) => s !== 'cancelled').sort());
    const cancel = openapi.paths['/api/campaigns/{id}/cancel'].post;
    expect(namedStatuses(cancel.responses['409'].description)).toEqual([...FINAL_CAMPAIGN_STATUSES]);
    const followUp = openapi.paths['/api/campaigns/{id}/follow-up'].post;
    expect(namedStatuses(followUp.description.split('.')[0])).toEqual([...FINAL_CAMPAIGN_STATUSES]);
    const body = followUp.requestBody.content['application/json'].schema;
    expect(body.properties.statuses.items.enum).toEqual([...FOLLOW_UP_STATUSES]);
  });
});

interface Field {
  optional: boolean;
  nullable: boolean;
  /** The type without `| null`. */
  type: string;
}

/** The fields of `export interface <name> { … }` in `file`, one per line, or undefined without one. */
function interfaceFields(file: string, name: string): Map<string, Field> | undefined {
  const source = read(file);
  const start = source.search(new RegExp(`^export interface ${name} \\{$`, 'm'));
  if (start < 0) return undefined;
  const body = source
    .slice(source.indexOf('{', start) + 1, source.indexOf('\n}', start))
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '');
  const fields = new Map<string, Field>();
  for (const line of body.split('\n').filter((l) => l.trim() !== '')) {
    const match = /^\s*(\w+)(\?)?: (.+);$/.exec(line);
    if (!match) throw new Error(`${file}: cannot read '${line.trim()}' of ${name}; write one field per line`);
    const parts = (match[3] as string).split('|').map((part) => part.trim());
    fields.set(match[1] as string, {
      optional: match[2] === '?',
      nullable: parts.includes('null'),
      type: parts.filter((part) => part !== 'null').join(' | '),
    });
  }
  return fields;
}

const PRIMITIVES = new Set(['string', 'number', 'boolean']);

/** How the fields of a hand copy differ from the API view's: a field it lacks, or another shape. */
function drift(copy: ReadonlyMap<string, Field>, view: ReadonlyMap<string, Field>): string[] {
  return [...copy].flatMap(([name, field]) => {
    const own = view.get(name);
    if (own === undefined) return [`${name}: not a field of the API's view`];
    const problems: string[] = [];
    if (field.optional !== own.optional)
      problems.push(`${name}: ${field.optional ? 'optional' : 'required'} here, not in the API's view`);
    if (field.nullable !== own.nullable)
      problems.push(`${name}: ${field.nullable ? 'nullable' : 'never null'} here, not in the API's view`);
    if ((PRIMITIVES.has(field.type) || PRIMITIVES.has(own.type)) && field.type !== own.type)
      problems.push(`${name}: ${field.type} here, ${own.type} in the API's view`);
    return problems;
  });
}

const views = {
  campaign: ['shared/domain/campaigns.ts', 'CampaignView'],
  recipient: ['shared/http/views.ts', 'RecipientView'],
} as const;

describe('types declared by hand for the API views', () => {
  it.each([
    ['dashboard/src/api.ts', 'Campaign', views.campaign],
    ['dashboard/src/api.ts', 'Recipient', views.recipient],
    ['cli/api.ts', 'CampaignView', views.campaign],
    ['cli/api.ts', 'RecipientView', views.recipient],
  ] as const)(
    '%s: %s has the fields of the API view, each as the API sends it',
    (file, name, [viewFile, viewName]) => {
      const view = interfaceFields(viewFile, viewName);
      expect(view, `${viewFile} declares ${viewName}`).toBeDefined();
      const copy = interfaceFields(file, name);
      // No copy is fine too: the type is the API's own (imported, or an alias of it).
      if (copy === undefined) expect(read(file)).not.toMatch(new RegExp(`type ${name} = \\{`));
      else expect(drift(copy, view as Map<string, Field>)).toEqual([]);
    },
  );

  it('the dashboard reads a campaign as the API sends it: tag null when unset, followUpOf absent', () => {
    const campaign = interfaceFields('dashboard/src/api.ts', 'Campaign');
    expect(campaign?.get('tag')).toEqual({ optional: false, nullable: true, type: 'string' });
    expect(campaign?.get('followUpOf')).toEqual({ optional: true, nullable: false, type: 'string' });
  });

  it("the dashboard's counts are one number per recipient status", () => {
    const counts = interfaceFields('dashboard/src/api.ts', 'Counts');
    expect([...(counts?.keys() ?? [])]).toEqual([...RECIPIENT_STATUSES]);
    expect(
      [...(counts?.values() ?? [])].every((f) => f.type === 'number' && !f.optional && !f.nullable),
    ).toBe(true);
  });
});

describe('the dashboard bundle', () => {
  it('takes from shared/ only modules that import nothing, such as the campaign statuses', async () => {
    // The runtime's own build of it, with the list of what went in.
    const result = await build({ ...dashboardBuildOptions, metafile: true });
    const inputs = Object.entries(result.metafile.inputs).filter(([path]) => /(^|\/)shared\//.test(path));
    expect(inputs.map(([path]) => path.replace(/^.*shared\//, 'shared/'))).toContain(
      'shared/domain/campaign-status.ts',
    );
    expect(inputs.filter(([, input]) => input.imports.length > 0).map(([path]) => path)).toEqual([]);
  });
});
