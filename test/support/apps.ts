/** Re-export for tests: registering apps and keys goes through the product's own store. */
export { addApiKey } from '#shared/store/apps.ts';
