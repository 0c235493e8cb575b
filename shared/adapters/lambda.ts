/**
 * The Lambda client, created once per process and traced (a no-op outside Lambda), for
 * asynchronous invocations of the system's own functions (`AWS_ENDPOINT_URL_LAMBDA`
 * locally).
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { tracer } from '#shared/observability.ts';

export const lambda = tracer.captureAWSv3Client(new LambdaClient({}));

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
