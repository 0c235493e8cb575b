/**
 * Tenant isolation, driven by the route table (`infra/routes.ts`): every route is tried
 * without credentials, with a wrong key, and by each of two apps against the other's
 * ids (in the path, the JSON body, the multipart form and the paging cursor). A route
 * added to the table without an entry here fails the first test. Afterwards both apps'
 * stored items and objects are exactly what they were.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Route, routes } from '#infra/routes.ts';
import { apiClient, type Credentials, newApp, useRuntime } from '#test/support/runtime.ts';

// Exports of more than 2 rows take the 202 path, so each app has an export job to guess at.
const runtime = useRuntime({ env: { EXPORT_INLINE_MAX_ROWS: '2' } });

/** What one app owns, as the other app would name it. */
interface Refs {
  appId: string;
  templateId: string;
  draftTemplateId: string;
  campaignId: string;
  uploadId: string;
  /** A ready recipient export of its campaign. */
  exportId: string;
  /** Its webhook destination's URL (a loopback address nothing listens on). */
  destinationUrl: string;
  cursors: { templates: string; campaigns: string; recipients: string };
}

interface World extends Refs {
  credentials: Credentials;
  /** A presigned upload URL of the app's second campaign, not used. */
  presigned: { url: string; headers: Record<string, string> };
  /** The presigned download URL of its ready export. */
  exportUrl: string;
}

interface Call {
  method: Route['method'];
  path: string;
  json?: unknown;
  form?: () => FormData;
}

interface Attempt extends Call {
  what: string;
  status: number;
  code?: string;
  /** Checks on a successful answer (lists). */
  check?: (body: any) => void;
}

interface RouteCase {
  /** A request the app `self` could make on its own resources. */
  valid: (self: Refs) => Call;
  /** `actor`'s attempts at `other`'s resources; `other` is the owning app or one that does not exist. */
  foreign: (actor: Refs, other: Refs) => Attempt[];
}

const csv = 'user_id,name\nu1,Ann\nu2,Bob\nu3,Cid\n';
const form = (campaignId: string) => () => {
  const f = new FormData();
  f.set('campaignId', campaignId);
  f.set('file', new Blob([csv]), 'audience.csv');
  return f;
};
const notFound = { status: 404, code: 'ERR_NOT_FOUND' };
const badCursor = { status: 400, code: 'ERR_BAD_REQUEST' };
const ids = (body: any): string[] => (body.data as { id: string }[]).map((item) => item.id);

const cases: Record<string, RouteCase> = {
  'POST /api/templates': {
    valid: () => ({
      method: 'POST',
      path: '/api/templates',
      json: { name: 't', body: 'hi', variableSchema: {} },
    }),
    foreign: (_actor, other) => [
      {
        what: "a body naming the other app's appId",
        method: 'POST',
        path: '/api/templates',
        json: { name: 't', body: 'hi', variableSchema: {}, appId: other.appId },
        status: 400,
        code: 'ERR_BAD_REQUEST',
      },
    ],
  },
  'GET /api/templates': {
    valid: () => ({ method: 'GET', path: '/api/templates' }),
    foreign: (_actor, other) => [
      {
        what: 'the list',
        method: 'GET',
        path: '/api/templates?limit=100',
        status: 200,
        check: (body) => {
          expect(ids(body)).not.toContain(other.templateId);
          expect(ids(body)).not.toContain(other.draftTemplateId);
        },
      },
      {
        what: "the other app's cursor",
        method: 'GET',
        path: `/api/templates?limit=1&cursor=${other.cursors.templates}`,
        ...badCursor,
      },
    ],
  },
  'GET /api/templates/{id}': {
    valid: (self) => ({ method: 'GET', path: `/api/templates/${self.templateId}` }),
    foreign: (_actor, other) => [
      { what: 'its id', method: 'GET', path: `/api/templates/${other.templateId}`, ...notFound },
    ],
  },
  'PUT /api/templates/{id}': {
    valid: (self) => ({
      method: 'PUT',
      path: `/api/templates/${self.draftTemplateId}`,
      json: { status: 'approved' },
    }),
    foreign: (_actor, other) => [
      {
        what: 'approving its draft',
        method: 'PUT',
        path: `/api/templates/${other.draftTemplateId}`,
        json: { status: 'approved' },
        ...notFound,
      },
      {
        what: 'archiving its approved template',
        method: 'PUT',
        path: `/api/templates/${other.templateId}`,
        json: { status: 'archived' },
        ...notFound,
      },
    ],
  },
  'POST /api/campaigns': {
    valid: (self) => ({
      method: 'POST',
      path: '/api/campaigns',
      json: { name: 'c', templateId: self.templateId },
    }),
    foreign: (_actor, other) => [
      {
        what: 'its templateId in the body',
        method: 'POST',
        path: '/api/campaigns',
        json: { name: 'c', templateId: other.templateId },
        ...notFound,
      },
    ],
  },
  'GET /api/campaigns': {
    valid: () => ({ method: 'GET', path: '/api/campaigns' }),
    foreign: (_actor, other) => [
      {
        what: 'the list',
        method: 'GET',
        path: '/api/campaigns?limit=100',
        status: 200,
        check: (body) => expect(ids(body)).not.toContain(other.campaignId),
      },
      {
        what: 'the list by status',
        method: 'GET',
        path: '/api/campaigns?status=draft&limit=100',
        status: 200,
        check: (body) => expect(ids(body)).not.toContain(other.campaignId),
      },
      {
        what: "the other app's cursor",
        method: 'GET',
        path: `/api/campaigns?limit=1&cursor=${other.cursors.campaigns}`,
        ...badCursor,
      },
    ],
  },
  'GET /api/campaigns/{id}': {
    valid: (self) => ({ method: 'GET', path: `/api/campaigns/${self.campaignId}` }),
    foreign: (_actor, other) => [
      { what: 'its id', method: 'GET', path: `/api/campaigns/${other.campaignId}`, ...notFound },
    ],
  },
  'POST /api/campaigns/{id}/send': {
    valid: (self) => ({ method: 'POST', path: `/api/campaigns/${self.campaignId}/send` }),
    foreign: (_actor, other) => [
      {
        what: 'sending it now',
        method: 'POST',
        path: `/api/campaigns/${other.campaignId}/send`,
        ...notFound,
      },
      {
        what: 'scheduling it',
        method: 'POST',
        path: `/api/campaigns/${other.campaignId}/send`,
        json: { scheduledAt: new Date(Date.now() + 3_600_000).toISOString() },
        ...notFound,
      },
    ],
  },
  'POST /api/campaigns/{id}/cancel': {
    valid: (self) => ({ method: 'POST', path: `/api/campaigns/${self.campaignId}/cancel` }),
    foreign: (_actor, other) => [
      { what: 'its id', method: 'POST', path: `/api/campaigns/${other.campaignId}/cancel`, ...notFound },
    ],
  },
  // Follow-up (docs/api.md, Follow-up).
  'POST /api/campaigns/{id}/follow-up': {
    valid: (self) => ({
      method: 'POST',
      path: `/api/campaigns/${self.campaignId}/follow-up`,
      json: { name: 'again', statuses: ['failed'] },
    }),
    foreign: (actor, other) => [
      {
        what: 'its campaign as the source',
        method: 'POST',
        path: `/api/campaigns/${other.campaignId}/follow-up`,
        json: { name: 'again', statuses: ['failed'] },
        ...notFound,
      },
      {
        what: 'its template for a follow-up of its campaign',
        method: 'POST',
        path: `/api/campaigns/${other.campaignId}/follow-up`,
        json: { name: 'again', statuses: ['failed'], templateId: other.templateId },
        ...notFound,
      },
      {
        what: 'its appId in the body',
        method: 'POST',
        path: `/api/campaigns/${actor.campaignId}/follow-up`,
        json: { name: 'again', statuses: ['failed'], appId: other.appId },
        status: 400,
        code: 'ERR_BAD_REQUEST',
      },
    ],
  },
  'GET /api/campaigns/{id}/recipients': {
    valid: (self) => ({ method: 'GET', path: `/api/campaigns/${self.campaignId}/recipients` }),
    foreign: (actor, other) => [
      {
        what: 'its campaign id',
        method: 'GET',
        path: `/api/campaigns/${other.campaignId}/recipients`,
        ...notFound,
      },
      {
        what: 'its campaign id and a status',
        method: 'GET',
        path: `/api/campaigns/${other.campaignId}/recipients?status=pending`,
        ...notFound,
      },
      {
        what: "the actor's campaign with the other app's cursor",
        method: 'GET',
        path: `/api/campaigns/${actor.campaignId}/recipients?limit=1&cursor=${other.cursors.recipients}`,
        ...badCursor,
      },
    ],
  },
  'POST /api/campaigns/{id}/recipients': {
    valid: (self) => ({
      method: 'POST',
      path: `/api/campaigns/${self.campaignId}/recipients`,
      json: { userIds: ['u9'], variables: { u9: { name: 'Dee' } } },
    }),
    foreign: (_actor, other) => [
      {
        what: 'adding a recipient to it',
        method: 'POST',
        path: `/api/campaigns/${other.campaignId}/recipients`,
        json: { userIds: ['intruder'], variables: { intruder: { name: 'Eve' } } },
        ...notFound,
      },
    ],
  },
  'POST /api/campaigns/upload': {
    valid: (self) => ({ method: 'POST', path: '/api/campaigns/upload', form: form(self.campaignId) }),
    foreign: (_actor, other) => [
      {
        what: 'its campaignId in the form',
        method: 'POST',
        path: '/api/campaigns/upload',
        form: form(other.campaignId),
        ...notFound,
      },
      {
        what: 'a dry run of its campaign (which answers for any status)',
        method: 'POST',
        path: '/api/campaigns/upload?dryRun=true',
        form: form(other.campaignId),
        ...notFound,
      },
    ],
  },
  'POST /api/campaigns/{id}/upload-url': {
    valid: (self) => ({
      method: 'POST',
      path: `/api/campaigns/${self.campaignId}/upload-url`,
      json: { contentLength: csv.length },
    }),
    foreign: (_actor, other) => [
      {
        what: 'an upload URL for it',
        method: 'POST',
        path: `/api/campaigns/${other.campaignId}/upload-url`,
        json: { contentLength: csv.length },
        ...notFound,
      },
      {
        what: 'a dry-run upload URL for it',
        method: 'POST',
        path: `/api/campaigns/${other.campaignId}/upload-url`,
        json: { contentLength: csv.length, dryRun: true },
        ...notFound,
      },
    ],
  },
  'GET /api/campaigns/{id}/uploads/{uploadId}': {
    valid: (self) => ({ method: 'GET', path: `/api/campaigns/${self.campaignId}/uploads/${self.uploadId}` }),
    foreign: (actor, other) => [
      {
        what: 'its campaign and upload',
        method: 'GET',
        path: `/api/campaigns/${other.campaignId}/uploads/${other.uploadId}`,
        ...notFound,
      },
      {
        what: "its upload under the actor's campaign",
        method: 'GET',
        path: `/api/campaigns/${actor.campaignId}/uploads/${other.uploadId}`,
        ...notFound,
      },
    ],
  },
  // Recipient exports.
  'GET /api/campaigns/{id}/recipients/export': {
    valid: (self) => ({ method: 'GET', path: `/api/campaigns/${self.campaignId}/recipients/export` }),
    foreign: (_actor, other) => [
      {
        what: "its campaign's export",
        method: 'GET',
        path: `/api/campaigns/${other.campaignId}/recipients/export`,
        ...notFound,
      },
      {
        what: "its campaign's export by status",
        method: 'GET',
        path: `/api/campaigns/${other.campaignId}/recipients/export?status=pending`,
        ...notFound,
      },
    ],
  },
  'GET /api/campaigns/{id}/recipients/exports/{exportId}': {
    valid: (self) => ({
      method: 'GET',
      path: `/api/campaigns/${self.campaignId}/recipients/exports/${self.exportId}`,
    }),
    foreign: (actor, other) => [
      {
        what: 'its campaign and export',
        method: 'GET',
        path: `/api/campaigns/${other.campaignId}/recipients/exports/${other.exportId}`,
        ...notFound,
      },
      {
        what: "its export under the actor's campaign",
        method: 'GET',
        path: `/api/campaigns/${actor.campaignId}/recipients/exports/${other.exportId}`,
        ...notFound,
      },
    ],
  },
  'POST /api/notifications/send': {
    valid: (self) => ({
      method: 'POST',
      path: '/api/notifications/send',
      json: { template: { id: self.templateId, variables: { name: 'Ann' } }, targets: ['u1'] },
    }),
    foreign: (_actor, other) => [
      {
        what: 'its template id',
        method: 'POST',
        path: '/api/notifications/send',
        json: { template: { id: other.templateId, variables: { name: 'Eve' } }, targets: ['intruder'] },
        ...notFound,
      },
    ],
  },
  'GET /api/destination': {
    valid: () => ({ method: 'GET', path: '/api/destination' }),
    foreign: (actor, other) => [
      {
        what: 'its own destination only',
        method: 'GET',
        path: '/api/destination',
        status: 200,
        check: (body) => {
          expect(body.data.url).toBe(actor.destinationUrl);
          expect(JSON.stringify(body)).not.toContain(other.destinationUrl);
        },
      },
    ],
  },
  'PUT /api/destination': {
    valid: (self) => ({
      method: 'PUT',
      path: '/api/destination',
      json: { kind: 'webhook', url: self.destinationUrl },
    }),
    foreign: (actor, other) => [
      {
        what: "a body naming the other app's appId",
        method: 'PUT',
        path: '/api/destination',
        json: { kind: 'webhook', url: actor.destinationUrl, appId: other.appId },
        status: 400,
        code: 'ERR_BAD_REQUEST',
      },
    ],
  },
  'POST /api/destination/rotate-secret': {
    valid: () => ({ method: 'POST', path: '/api/destination/rotate-secret' }),
    foreign: (_actor, other) => [
      {
        what: "a body naming the other app's appId",
        method: 'POST',
        path: '/api/destination/rotate-secret',
        json: { appId: other.appId },
        status: 400,
        code: 'ERR_BAD_REQUEST',
      },
    ],
  },
  'POST /api/destination/test': {
    valid: () => ({ method: 'POST', path: '/api/destination/test' }),
    foreign: (_actor, other) => [
      {
        what: "a body naming the other app's appId",
        method: 'POST',
        path: '/api/destination/test',
        json: { appId: other.appId },
        status: 400,
        code: 'ERR_BAD_REQUEST',
      },
    ],
  },
};

const routeKey = (route: Route) => `${route.method} ${route.path}`;

async function call(credentials: Credentials | undefined, c: Call, headers: Record<string, string> = {}) {
  const api = apiClient(runtime.current.url, credentials);
  if (c.form) return api.request<any>(c.method, c.path, { body: c.form(), headers });
  if (c.json !== undefined) return api.request<any>(c.method, c.path, { json: c.json, headers });
  return api.request<any>(c.method, c.path, { headers });
}

/** A cursor of the shape the API hands out, pointing into `appId`'s items. */
const cursorInto = (key: Record<string, unknown>) => Buffer.from(JSON.stringify(key)).toString('base64url');

/** Ids and cursors of an app that does not exist, shaped like real ones. */
function ghost(): Refs {
  const appId = `ghost-${Math.random().toString(36).slice(2, 10)}`;
  const id = (prefix: string) => `${prefix}_${Math.random().toString(36).slice(2, 12).padEnd(26, '0')}`;
  const campaignId = id('cmp');
  return {
    appId,
    templateId: id('tpl'),
    draftTemplateId: id('tpl'),
    campaignId,
    uploadId: id('upl'),
    exportId: id('exp'),
    destinationUrl: `http://127.0.0.1:9/${appId}`,
    cursors: {
      templates: cursorInto({ pk: `APP#${appId}`, sk: `TEMPLATE#${id('tpl')}` }),
      campaigns: cursorInto({ pk: `APP#${appId}`, sk: `CAMPAIGN#${campaignId}` }),
      recipients: cursorInto({ shard: 0, pk: `APP#${appId}#C#${campaignId}#S#0`, sk: 'U#u1' }),
    },
  };
}

/** An answer with `refs`' ids replaced by their names, to compare answers about two apps. */
function normalized(body: unknown, refs: Refs): string {
  let text = JSON.stringify(body);
  const named: [string, string][] = [
    [refs.appId, '<appId>'],
    [refs.templateId, '<templateId>'],
    [refs.draftTemplateId, '<draftTemplateId>'],
    [refs.campaignId, '<campaignId>'],
    [refs.uploadId, '<uploadId>'],
    [refs.exportId, '<exportId>'],
    [refs.destinationUrl, '<destinationUrl>'],
    [refs.cursors.templates, '<cursor>'],
    [refs.cursors.campaigns, '<cursor>'],
    [refs.cursors.recipients, '<cursor>'],
  ];
  for (const [value, name] of named) text = text.replaceAll(value, name);
  return text;
}

async function seed(prefix: string): Promise<World> {
  const credentials = await newApp(prefix);
  const api = apiClient(runtime.current.url, credentials);
  const template = await api.post('/api/templates', {
    name: 'greeting',
    body: 'Hello {{name}}',
    variableSchema: { name: { type: 'string', required: true } },
  });
  expect(template.status).toBe(201);
  const templateId = template.body.data.id as string;
  expect((await api.put(`/api/templates/${templateId}`, { status: 'approved' })).status).toBe(200);
  const draft = await api.post('/api/templates', { name: 'draft', body: 'hi', variableSchema: {} });
  expect(draft.status).toBe(201);
  const campaign = await api.post('/api/campaigns', { name: 'main', templateId });
  expect(campaign.status).toBe(201);
  const campaignId = campaign.body.data.id as string;
  const second = await api.post('/api/campaigns', { name: 'second', templateId });
  expect(second.status).toBe(201);
  const presigned = await api.post(`/api/campaigns/${second.body.data.id}/upload-url`, {
    contentLength: csv.length,
  });
  expect(presigned.status).toBe(201);
  const upload = await api.request<any>('POST', '/api/campaigns/upload', { body: form(campaignId)() });
  expect(upload.status).toBe(200);
  expect(upload.body.data).toMatchObject({ uploaded: 3, total: 3 });

  // Three recipients are past this runtime's inline bound: an export job, followed to ready.
  const started = await api.get(`/api/campaigns/${campaignId}/recipients/export`);
  expect(started.status).toBe(202);
  const exportId = started.body.data.exportId as string;
  await runtime.current.idle();
  const exported = await api.get(`/api/campaigns/${campaignId}/recipients/exports/${exportId}`);
  expect(exported.body.data).toMatchObject({ status: 'ready', rows: 3 });

  // Port 9 (discard): nothing listens, and the isolation tests never deliver.
  const destinationUrl = `http://127.0.0.1:9/${credentials.appId}`;
  const destination = await api.put('/api/destination', { kind: 'webhook', url: destinationUrl });
  expect(destination.status).toBe(200);

  const next = async (path: string) => {
    const res = await api.get(path);
    expect(res.status).toBe(200);
    expect(res.body.meta.next).toEqual(expect.any(String));
    return res.body.meta.next as string;
  };
  return {
    credentials,
    presigned: presigned.body.data,
    exportUrl: exported.body.data.url,
    appId: credentials.appId,
    templateId,
    draftTemplateId: draft.body.data.id,
    campaignId,
    uploadId: upload.body.data.uploadId,
    exportId,
    destinationUrl,
    cursors: {
      templates: await next('/api/templates?limit=1'),
      campaigns: await next('/api/campaigns?limit=1'),
      recipients: await next(`/api/campaigns/${campaignId}/recipients?limit=1`),
    },
  };
}

/** Every stored item and S3 object of an app, as data to compare. */
async function snapshot(appId: string) {
  await runtime.current.idle();
  const { client: documents, tableName } = runtime.current.table;
  const { client: s3, name: bucketName } = runtime.current.bucket;
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await documents.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
    for (const item of out.Items ?? []) {
      const pk = String(item.pk);
      if (pk === `APP#${appId}` || pk.startsWith(`APP#${appId}#`)) items.push(item);
    }
    start = out.LastEvaluatedKey;
  } while (start);
  items.sort((a, b) => `${a.pk} ${a.sk}`.localeCompare(`${b.pk} ${b.sk}`));
  const objects: string[] = [];
  for (const prefix of ['uploads/', 'reports/', 'exports/']) {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucketName, Prefix: `${prefix}${appId}/` }));
    for (const o of out.Contents ?? []) objects.push(`${o.Key} ${o.Size} ${o.ETag}`);
  }
  return { items, objects: objects.sort() };
}

describe('tenant isolation over every route', () => {
  let a: World;
  let b: World;
  let before: { a: Awaited<ReturnType<typeof snapshot>>; b: Awaited<ReturnType<typeof snapshot>> };

  beforeAll(async () => {
    a = await seed('iso-a');
    b = await seed('iso-b');
    before = { a: await snapshot(a.appId), b: await snapshot(b.appId) };
    expect(before.a.items.length).toBeGreaterThan(5);
    // The upload and the export.
    expect(before.a.objects).toHaveLength(2);
  }, 60_000);

  it('has a case for every route of the table, and no other', () => {
    const table = routes.map(routeKey).sort();
    const missing = table.filter((key) => !cases[key]);
    expect(missing, `add these routes to the cases of ${import.meta.filename}`).toEqual([]);
    expect(Object.keys(cases).sort()).toEqual(table);
  });

  it.each(routes.map(routeKey))('%s: 401 without credentials or with a wrong key', async (key) => {
    const valid = (cases[key] as RouteCase).valid(a);
    const attempts: [string, Credentials | undefined][] = [
      ['no appId and apiKey', undefined],
      ['a made-up key', { appId: a.appId, apiKey: `ck_${'x'.repeat(43)}` }],
      ["app B's key", { appId: a.appId, apiKey: b.credentials.apiKey }],
      ["app A's key under app B's id", { appId: b.appId, apiKey: a.credentials.apiKey }],
    ];
    for (const [what, credentials] of attempts) {
      const res = await call(credentials, valid);
      expect(res.status, `${key} with ${what}`).toBe(401);
      expect(res.body.error.code, `${key} with ${what}`).toBe('ERR_UNAUTHORIZED');
    }
  });

  for (const [actorName, ownerName] of [
    ['B', 'A'],
    ['A', 'B'],
  ] as const) {
    it.each(routes.map(routeKey))(
      `%s: app ${actorName} on app ${ownerName}'s resources is answered as if they did not exist`,
      async (key) => {
        const actor = actorName === 'A' ? a : b;
        const owner = ownerName === 'A' ? a : b;
        const nobody = ghost();
        const foreign = (cases[key] as RouteCase).foreign(actor, owner);
        const missing = (cases[key] as RouteCase).foreign(actor, nobody);
        expect(foreign.length).toBeGreaterThan(0);
        for (const [i, attempt] of foreign.entries()) {
          const label = `${key} by ${actorName} with ${attempt.what}`;
          const res = await call(actor.credentials, attempt);
          expect(res.status, `${label}: ${JSON.stringify(res.body)}`).toBe(attempt.status);
          if (attempt.code) expect(res.body.error?.code, label).toBe(attempt.code);
          attempt.check?.(res.body);
          if (attempt.status >= 400) {
            // The same request about an app that does not exist gets the very same answer.
            const ghostRes = await call(actor.credentials, missing[i] as Attempt);
            expect(ghostRes.status, label).toBe(res.status);
            expect(normalized(res.body, owner), label).toBe(normalized(ghostRes.body, nobody));
          }
        }
      },
    );
  }

  it("a presigned upload URL of one app cannot write under the other app's keys", async () => {
    for (const [actor, owner] of [
      [a, b],
      [b, a],
    ] as const) {
      const url = new URL(actor.presigned.url);
      url.pathname = new URL(owner.presigned.url).pathname;
      const res = await fetch(url, { method: 'PUT', headers: actor.presigned.headers, body: csv });
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
    }
  });

  it("an export's download URL of one app cannot read the other app's export", async () => {
    for (const [actor, owner] of [
      [a, b],
      [b, a],
    ] as const) {
      expect((await fetch(actor.exportUrl)).status).toBe(200);
      const url = new URL(actor.exportUrl);
      url.pathname = new URL(owner.exportUrl).pathname;
      const res = await fetch(url);
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
    }
  });

  it("leaves both apps' items and files exactly as they were", async () => {
    const after = { a: await snapshot(a.appId), b: await snapshot(b.appId) };
    expect(after.a).toEqual(before.a);
    expect(after.b).toEqual(before.b);
    for (const world of [a, b]) {
      const api = apiClient(runtime.current.url, world.credentials);
      const campaign = await api.get(`/api/campaigns/${world.campaignId}`);
      expect(campaign.body.data).toMatchObject({ status: 'draft', recipientCount: 3 });
      const recipients = await api.get(`/api/campaigns/${world.campaignId}/recipients?limit=100`);
      expect(recipients.body.data.map((r: { userId: string }) => r.userId).sort()).toEqual([
        'u1',
        'u2',
        'u3',
      ]);
      const templates = await api.get('/api/templates?limit=100');
      expect(templates.body.data).toHaveLength(2);
      const campaigns = await api.get('/api/campaigns?limit=100');
      expect(campaigns.body.data).toHaveLength(2);
    }
  });
});
