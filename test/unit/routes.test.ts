import { describe, expect, it } from 'vitest';
import { matchRoute, routes } from '#infra/routes.ts';

describe('route matching', () => {
  it('fills path parameters from the resource path', () => {
    const match = matchRoute('GET', '/api/campaigns/cmp_1/uploads/upl_2');
    expect(match.route?.path).toBe('/api/campaigns/{id}/uploads/{uploadId}');
    expect(match).toMatchObject({ pathParameters: { id: 'cmp_1', uploadId: 'upl_2' } });
  });

  it('prefers a literal segment over a parameter, as API Gateway does', () => {
    expect(matchRoute('POST', '/api/campaigns/upload').route?.function).toBe('uploads');
  });

  it('tells a wrong method on a known path from an unknown path', () => {
    expect(matchRoute('DELETE', '/api/campaigns/cmp_1')).toEqual({ route: undefined, pathExists: true });
    expect(matchRoute('GET', '/api/nothing/here')).toEqual({ route: undefined, pathExists: false });
  });

  it('serves every route of the table', () => {
    for (const route of routes) {
      const concrete = route.path.replaceAll(/\{[^}]+\}/g, 'x');
      expect(matchRoute(route.method, concrete).route).toEqual(route);
    }
  });
});
