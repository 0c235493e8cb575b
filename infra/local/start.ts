/**
 * `npm start`: the whole system on this machine. Prints where the API listens, the
 * seeded app's credentials and how long the embedded AWS took to start.
 */
import { startLocalRuntime } from './runtime.ts';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';

const runtime = await startLocalRuntime({ port, host });
const { aws } = runtime;
console.log(
  [
    `csv-campaigns is running`,
    `  API        ${runtime.url}/api`,
    `  Dashboard  ${runtime.url}/`,
    `  appId      ${runtime.appId}`,
    `  apiKey     ${runtime.apiKey}`,
    `  AWS        ${aws.mode === 'emulators' ? 'embedded emulators (DynamoDB Local, fauxqs S3 + SQS, KMS, Secrets Manager)' : `endpoint ${process.env.AWS_ENDPOINT_URL}`}, ready in ${aws.startupMs} ms`,
    `  DynamoDB   ${aws.env.AWS_ENDPOINT_URL_DYNAMODB}  table ${aws.env.TABLE_NAME}`,
    `  S3         ${aws.env.AWS_ENDPOINT_URL_S3}  bucket ${aws.env.BUCKET_NAME}`,
    `  SQS        ${aws.env.DELIVERY_QUEUE_URL}`,
    `  KMS        ${runtime.secrets.kmsEndpoint}  key ${process.env.SECRETS_KEY_ID} (apps' signing secrets)`,
    `  Secrets    ${runtime.secrets.secretsManagerEndpoint}  default webhook's signing secret ${process.env.WEBHOOK_SECRET_ARN}`,
    `Press Ctrl-C to stop.`,
  ].join('\n'),
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping…`);
  await runtime.stop();
  console.log('stopped');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
