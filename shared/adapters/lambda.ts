/**
 * The Lambda client, created once per process, for asynchronous invocations of the
 * system's own functions (`AWS_ENDPOINT_URL_LAMBDA` locally).
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';

export const lambda = new LambdaClient({});

/** Starts `functionArn` with `payload` and returns once Lambda has queued it. */
export async function invokeAsync(functionArn: string, payload: unknown): Promise<void> {
  await lambda.send(
    new InvokeCommand({
      FunctionName: functionArn,
      InvocationType: 'Event',
      Payload: Buffer.from(JSON.stringify(payload)),
    }),
  );
}
