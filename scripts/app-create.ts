/**
 * `npm run app:create -- <appId>`: creates the app if needed, adds a new API key to it
 * and prints the key once (only its hash is stored). Works against whatever AWS the
 * environment names: `TABLE_NAME`, `AWS_REGION`, credentials and, for LocalStack or
 * the embedded emulators, `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_DYNAMODB`.
 */
import { APP_ID_PATTERN } from '#shared/domain/api-keys.ts';

const usage = 'usage: npm run app:create -- <appId>   (appId: 1-64 letters, digits, _ or -)';
const appId = process.argv[2];
if (!appId || process.argv.length > 3) {
  console.error(usage);
  process.exit(2);
}
if (!APP_ID_PATTERN.test(appId)) {
  console.error(`appId '${appId}' is invalid.\n${usage}`);
  process.exit(2);
}

try {
  // Loaded after the checks: the store reads TABLE_NAME when it loads.
  const { addApiKey } = await import('#shared/store/apps.ts');
  const apiKey = await addApiKey(appId);
  console.log(
    [
      `App '${appId}' has a new API key. It is shown only this once; store it now:`,
      '',
      `  appId   ${appId}`,
      `  apiKey  ${apiKey}`,
      '',
      'Send both as the appId and apiKey headers of every request.',
    ].join('\n'),
  );
} catch (error) {
  console.error(`Could not create the app key: ${(error as Error).message}`);
  process.exit(1);
}
