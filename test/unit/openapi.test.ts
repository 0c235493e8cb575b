import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { routes } from '#infra/routes.ts';
import { campaignView, newCampaign } from '#shared/domain/campaigns.ts';
import { dryRunUpload } from '#shared/domain/dry-run.ts';
import { newTemplate, templateView } from '#shared/domain/templates.ts';

const document = parse(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8'));
const methods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

/** `'<METHOD> <path>'` of every operation the document describes. */
function operations(): string[] {
  return Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => methods.includes(key))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );
}

function resolve(ref: string): unknown {
  return ref
    .replace(/^#\//, '')
    .split('/')
    .reduce<any>((node, part) => node?.[part.replaceAll('~1', '/').replaceAll('~0', '~')], document);
}

function refs(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(refs);
  if (node && typeof node === 'object') {
    return Object.entries(node).flatMap(([key, value]) =>
      key === '$ref' && typeof value === 'string' ? [value] : refs(value),
    );
  }
  return [];
}

describe('openapi.yaml', () => {
  it('describes every route of infra/routes.ts with its method, and nothing else', () => {
    const expected = routes.map((r) => `${r.method} ${r.path}`).sort();
    expect(operations().sort()).toEqual(expected);
  });

  it('requires the appId and apiKey headers on every operation', () => {
    expect(document.security).toEqual([{ appId: [], apiKey: [] }]);
    expect(document.components.securitySchemes).toEqual({
      appId: expect.objectContaining({ type: 'apiKey', in: 'header', name: 'appId' }),
      apiKey: expect.objectContaining({ type: 'apiKey', in: 'header', name: 'apiKey' }),
    });
    for (const [path, item] of Object.entries<any>(document.paths)) {
      for (const method of methods.filter((m) => item[m])) {
        expect(item[method].security, `${method} ${path} overrides security`).toBeUndefined();
        expect(item[method].responses['401'], `${method} ${path} has no 401`).toBeDefined();
      }
    }
  });

  it('declares every path parameter of every route', () => {
    for (const route of routes) {
      const item = document.paths[route.path];
      const operation = item[route.method.toLowerCase()];
      const declared = [...(item.parameters ?? []), ...(operation.parameters ?? [])]
        .map((p: any) => (p.$ref ? resolve(p.$ref) : p) as { name: string; in: string })
        .filter((p) => p.in === 'path')
        .map((p) => p.name)
        .sort();
      const inPath = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect(declared, `${route.method} ${route.path}`).toEqual(inPath);
    }
  });

  it('describes errors with the one error envelope of docs/api.md', () => {
    const envelope = document.components.schemas.ErrorEnvelope;
    expect(envelope.properties.error.required).toEqual(['code', 'message', 'details']);
    for (const response of Object.values<any>(document.components.responses)) {
      expect(response.content['application/json'].schema).toEqual({
        $ref: '#/components/schemas/ErrorEnvelope',
      });
    }
  });

  it('has no dangling $ref', () => {
    const dangling = refs(document).filter((ref) => resolve(ref) === undefined);
    expect(dangling).toEqual([]);
  });

  it('lists as required exactly the fields the API returns for templates and campaigns', () => {
    const ids = { id: 'x', appId: 'a', now: '2026-01-01T00:00:00.000Z' };
    const template = templateView(newTemplate({ name: 'n', body: 'b', variableSchema: {} }, ids));
    const campaign = campaignView(newCampaign({ name: 'n', templateId: 't' }, ids));
    const { Template, Campaign } = document.components.schemas;
    expect([...Template.required].sort()).toEqual(Object.keys(template).sort());
    expect([...Campaign.required].sort()).toEqual(Object.keys(campaign).sort());
    expect(Object.keys(Campaign.properties)).toEqual(expect.arrayContaining(Object.keys(campaign)));
  });

  it('describes the progress of a sending campaign with exactly the fields the API returns', () => {
    const now = '2026-01-01T00:00:00.000Z';
    const campaign = campaignView(
      {
        ...newCampaign({ name: 'n', templateId: 't' }, { id: 'x', appId: 'a', now }),
        status: 'sending',
        recipientCount: 10,
        startedAt: now,
      },
      { now: Date.parse(now) + 5_000, limitPerSecond: null },
    );
    const { Campaign, CampaignProgress } = document.components.schemas;
    expect(Campaign.properties.progress).toEqual({ $ref: '#/components/schemas/CampaignProgress' });
    expect(Campaign.required).not.toContain('progress');
    expect([...CampaignProgress.required].sort()).toEqual(Object.keys(campaign.progress ?? {}).sort());
    expect(Object.keys(CampaignProgress.properties).sort()).toEqual([...CampaignProgress.required].sort());
  });

  it('describes the dry run on both upload routes, with the fields a dry run answers', async () => {
    const direct = document.paths['/api/campaigns/upload'].post;
    expect(direct.parameters).toContainEqual(
      expect.objectContaining({
        name: 'dryRun',
        in: 'query',
        schema: expect.objectContaining({ enum: ['true', 'false'] }),
      }),
    );
    const presign = document.paths['/api/campaigns/{id}/upload-url'].post;
    const body = presign.requestBody.content['application/json'].schema;
    expect(body.properties.dryRun).toMatchObject({ type: 'boolean' });
    const { DirectDryRun, DryRunDetected, DryRunPreviewEntry, Upload } = document.components.schemas;
    expect(Upload.properties).toMatchObject({
      dryRun: expect.any(Object),
      detected: { $ref: '#/components/schemas/DryRunDetected' },
      preview: { items: { $ref: '#/components/schemas/DryRunPreviewEntry' } },
    });

    // The schemas name exactly what the code answers.
    async function* file() {
      yield Buffer.from('user_id,name\nu1,Ada\n');
    }
    const outcome = await dryRunUpload(async () => file(), {
      title: 'Hi {{name}}',
      body: '{{name}}',
      variableSchema: { name: { type: 'string' } },
    });
    if (!outcome.ok) throw new Error(outcome.error.message);
    expect([...DryRunDetected.required].sort()).toEqual(Object.keys(outcome.detected).sort());
    const entry = outcome.preview[0] as object;
    expect(Object.keys(DryRunPreviewEntry.properties)).toEqual(expect.arrayContaining(Object.keys(entry)));
    expect(Object.keys(DryRunPreviewEntry.properties)).toEqual(
      expect.arrayContaining(['rendered', 'renderError', 'truncated']),
    );
    expect(DirectDryRun.required).toEqual(
      expect.arrayContaining(['dryRun', 'uploaded', 'rejected', 'rejections', 'detected', 'preview']),
    );
  });
});
