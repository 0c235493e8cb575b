/**
 * PLACEHOLDER of the destination API (`GET` and `PUT /api/destination`, `POST
 * /api/destination/rotate-secret`, `POST /api/destination/test`; docs/api.md), so that
 * the stack synthesizes and bundles its function: the integrator replaces this file.
 * It loads what the real function uses (the table, the secret cipher on `SECRETS_KEY_ID`),
 * so the environment the stack gives it is checked at cold start
 * (test/infra/function-env.test.ts); every route answers 405 until then.
 */
import '#shared/adapters/secret-cipher.ts';
import { tableConfig } from '#shared/config.ts';
import { createApiHandler } from '#shared/http/api-handler.ts';

tableConfig();

export const handler = createApiHandler({});
