/** API function for campaigns: `/api/campaigns…` routes of `infra/routes.ts`. */
import { createApiHandler } from '#shared/http/api-handler.ts';

export const handler = createApiHandler({});
