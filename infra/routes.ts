/**
 * Every HTTP route of the API (docs/api.md) and the Lambda function that serves it.
 * API Gateway's resources in the CDK stack, the local HTTP front and the OpenAPI test
 * all read this one table.
 */

/** The API Lambdas: a name, and its entry file under `functions/`. */
export const apiFunctions = {
  templates: 'functions/templates-api.ts',
  campaigns: 'functions/campaigns-api.ts',
  uploads: 'functions/uploads-api.ts',
  notifications: 'functions/notifications-api.ts',
  destination: 'functions/destination-api.ts',
  exports: 'functions/exports-api.ts',
} as const;

export type ApiFunctionName = keyof typeof apiFunctions;

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** API Gateway resource path, `{name}` for a path parameter. */
  path: string;
  function: ApiFunctionName;
}

export const routes: readonly Route[] = [
  { method: 'POST', path: '/api/templates', function: 'templates' },
  { method: 'GET', path: '/api/templates', function: 'templates' },
  { method: 'GET', path: '/api/templates/{id}', function: 'templates' },
  { method: 'PUT', path: '/api/templates/{id}', function: 'templates' },
  { method: 'POST', path: '/api/campaigns', function: 'campaigns' },
  { method: 'GET', path: '/api/campaigns', function: 'campaigns' },
  { method: 'GET', path: '/api/campaigns/{id}', function: 'campaigns' },
  { method: 'POST', path: '/api/campaigns/{id}/send', function: 'campaigns' },
  { method: 'POST', path: '/api/campaigns/{id}/cancel', function: 'campaigns' },
  { method: 'GET', path: '/api/campaigns/{id}/recipients', function: 'campaigns' },
  // Follow-up (docs/api.md, Follow-up).
  { method: 'POST', path: '/api/campaigns/{id}/follow-up', function: 'campaigns' },
  { method: 'POST', path: '/api/campaigns/{id}/recipients', function: 'uploads' },
  { method: 'POST', path: '/api/campaigns/upload', function: 'uploads' },
  { method: 'POST', path: '/api/campaigns/{id}/upload-url', function: 'uploads' },
  { method: 'GET', path: '/api/campaigns/{id}/uploads/{uploadId}', function: 'uploads' },
  { method: 'POST', path: '/api/notifications/send', function: 'notifications' },
  { method: 'GET', path: '/api/destination', function: 'destination' },
  { method: 'PUT', path: '/api/destination', function: 'destination' },
  { method: 'POST', path: '/api/destination/rotate-secret', function: 'destination' },
  { method: 'POST', path: '/api/destination/test', function: 'destination' },
  // Recipient exports (docs/api.md, "Exporting recipients").
  { method: 'GET', path: '/api/campaigns/{id}/recipients/export', function: 'exports' },
  { method: 'GET', path: '/api/campaigns/{id}/recipients/exports/{exportId}', function: 'exports' },
];

/**
 * The route for a method and concrete path, with its path parameters. As in API
 * Gateway, the resource is chosen first (literal segments win over parameters, so
 * `/api/campaigns/upload` is not `{id}`), then the method on it.
 */
export function matchRoute(
  method: string,
  path: string,
): { route: Route; pathParameters: Record<string, string> } | { route: undefined; pathExists: boolean } {
  const segments = path.split('/').filter(Boolean);
  let best: { resource: string; pathParameters: Record<string, string>; literals: number } | undefined;
  for (const route of routes) {
    const pattern = route.path.split('/').filter(Boolean);
    if (pattern.length !== segments.length) continue;
    const pathParameters: Record<string, string> = {};
    let literals = 0;
    let matches = true;
    pattern.forEach((p, i) => {
      const s = segments[i] as string;
      if (p.startsWith('{') && p.endsWith('}')) pathParameters[p.slice(1, -1)] = safeDecode(s);
      else if (p === s) literals += 1;
      else matches = false;
    });
    if (matches && (!best || literals > best.literals))
      best = { resource: route.path, pathParameters, literals };
  }
  if (!best) return { route: undefined, pathExists: false };
  const resource = best.resource;
  const route = routes.find((r) => r.path === resource && r.method === method);
  return route ? { route, pathParameters: best.pathParameters } : { route: undefined, pathExists: true };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Content types API Gateway passes to the functions base64-encoded (multipart uploads). */
export const binaryMediaTypes = ['multipart/form-data', 'text/csv', 'application/octet-stream'] as const;
