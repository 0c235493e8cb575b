/** API function for campaigns: `/api/campaigns…` routes of `infra/routes.ts`. */
import {
  campaignView,
  createCampaignBody,
  newCampaign,
  parseCampaignStatusFilter,
} from '#shared/domain/campaigns.ts';
import { newId } from '#shared/domain/keys.ts';
import { createApiHandler } from '#shared/http/api-handler.ts';
import { encodeCursor, jsonBody, page, pathParameter, query } from '#shared/http/request.ts';
import { data, list } from '#shared/http/responses.ts';
import { createCampaign, getCampaign, listCampaigns } from '#shared/store/campaigns.ts';

export const handler = createApiHandler({
  'POST /api/campaigns': async ({ event, appId }) => {
    const input = jsonBody(event, createCampaignBody);
    const campaign = newCampaign(input, { id: newId('cmp'), appId, now: new Date().toISOString() });
    // Checks in the same write that the template is this app's and approved (404 / 400).
    await createCampaign(campaign);
    return data(campaignView(campaign), 201);
  },

  'GET /api/campaigns': async ({ event, appId }) => {
    const status = parseCampaignStatusFilter(query(event).status);
    const { items, lastKey } = await listCampaigns(appId, page(event, appId), status);
    return list(items.map(campaignView), encodeCursor(lastKey));
  },

  'GET /api/campaigns/{id}': async ({ event, appId }) => {
    return data(campaignView(await getCampaign(appId, pathParameter(event, 'id'))));
  },
});
