/** API function for templates: `/api/templates…` routes of `infra/routes.ts`. */
import { newId } from '#shared/domain/keys.ts';
import {
  createTemplateBody,
  newTemplate,
  templateView,
  updatedTemplate,
  updateTemplateBody,
} from '#shared/domain/templates.ts';
import { createApiHandler } from '#shared/http/api-handler.ts';
import { encodeCursor, jsonBody, page, pathParameter } from '#shared/http/request.ts';
import { data, list } from '#shared/http/responses.ts';
import { createTemplate, getTemplate, listTemplates, replaceTemplate } from '#shared/store/templates.ts';

export const handler = createApiHandler({
  'POST /api/templates': async ({ event, appId }) => {
    const input = jsonBody(event, createTemplateBody);
    const template = newTemplate(input, { id: newId('tpl'), appId, now: new Date().toISOString() });
    await createTemplate(template);
    return data(templateView(template), 201);
  },

  'GET /api/templates': async ({ event, appId }) => {
    const { items, lastKey } = await listTemplates(appId, page(event, appId));
    return list(items.map(templateView), encodeCursor(lastKey));
  },

  'GET /api/templates/{id}': async ({ event, appId }) => {
    return data(templateView(await getTemplate(appId, pathParameter(event, 'id'))));
  },

  'PUT /api/templates/{id}': async ({ event, appId }) => {
    const change = jsonBody(event, updateTemplateBody);
    const current = await getTemplate(appId, pathParameter(event, 'id'));
    const next = updatedTemplate(current, change, new Date().toISOString());
    if (next !== current) await replaceTemplate(current, next);
    return data(templateView(next));
  },
});
