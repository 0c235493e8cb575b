/**
 * The function modules (`functions/*.ts`), loaded as Lambda loads them: on first use,
 * once the test's runtime has set the environment. A function module reads its settings
 * when it loads, as at a cold start, so that a deployed function with a bad setting fails
 * at init rather than on some later request; a static import would read them before
 * `useRuntime`'s `beforeAll` has set them. The stores, the adapters' clients and the
 * observability module read nothing when they load, and tests import those statically.
 */
export const deliverBatchFunction = () => import('#functions/deliver-batch.ts');
export const sendCampaignFunction = () => import('#functions/send-campaign.ts');
export const importCsvFunction = () => import('#functions/import-csv.ts');
export const uploadsApiFunction = () => import('#functions/uploads-api.ts');
