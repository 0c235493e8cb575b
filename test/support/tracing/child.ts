/**
 * Child process of test/integration/tracing.test.ts: loads the adapters and runs two handlers
 * on the shared stack in whatever environment the test gives it (Lambda's, with a local
 * X-Ray daemon, or the local runtime's), then prints what it saw as one JSON line.
 *
 * One handler reads an item through the document client and answers with `MARK`; the
 * other throws an error that quotes `MARK`. The test's fake DynamoDB answers with `MARK`
 * in the item too.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { lambdaContext } from '#infra/local/lambda-context.ts';
import { defaultTable, documents, dynamodb } from '#shared/adapters/dynamodb.ts';
import { lambda } from '#shared/adapters/lambda.ts';
import { presigningS3, s3 } from '#shared/adapters/s3.ts';
import { scheduler } from '#shared/adapters/scheduler.ts';
import { sqs } from '#shared/adapters/sqs.ts';
import { lambdaStack } from '#shared/lambda.ts';

const MARK = process.env.TRACE_TEST_MARK as string;

const clients = { dynamodb, documents, s3, presigningS3, sqs, lambda, scheduler };
const traced = Object.fromEntries(
  Object.entries(clients).map(([name, client]) => [
    name,
    client.middlewareStack.identify().some((m) => m.startsWith('XRaySDKInstrumentation')),
  ]),
);

const answering = lambdaStack<unknown, { body: string }>().handler(async () => {
  const { Item } = await documents.send(
    new GetCommand({ TableName: defaultTable().tableName, Key: { pk: 'p', sk: 's' } }),
  );
  return { body: `${MARK} ${JSON.stringify(Item)}` };
});
const failing = lambdaStack().handler(async () => {
  throw new Error(`could not deliver to ${MARK}`);
});

const answered = await answering({}, lambdaContext('answering', 10));
let failed = '';
await failing({}, lambdaContext('failing', 10)).catch((error: Error) => {
  failed = error.message;
});
process.stdout.write(`${JSON.stringify({ traced, answered: answered.body.includes(MARK), failed })}\n`);
