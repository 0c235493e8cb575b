/**
 * A direct upload waits for its import, but never past its own function's timeout: under
 * load (found by `npm run bench:load`), uploads whose import outlasted the API function
 * were answered with a timed-out 500 that hid the upload they had started.
 *
 * The import is held here (the S3 notification is kept, not run) until the upload has
 * answered, so it outlasts the function on any machine: the answer is always the 202 to
 * poll. The wait is as long as configuration allows (28 s) and the function is given 3 s,
 * so only the function's deadline can end the wait while it still has time to answer.
 */
import type { S3Event } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { lambdaContext } from '#infra/local/lambda-context.ts';
import { importCsvFunction, uploadsApiFunction } from '#test/support/functions.ts';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { audienceCsv, draftCampaign, settledUpload, uploadForm } from '#test/support/uploads.ts';

/** The S3 notifications, kept for the test to run the importer itself. */
const objectEvents: S3Event[] = [];
const runtime = useRuntime({
  env: { UPLOAD_WAIT_SECONDS: '28' },
  interceptInvoke: (name, event) => {
    if (name !== 'importCsv') return false;
    objectEvents.push(event as S3Event);
    return true;
  },
});

describe('direct upload near its function timeout', () => {
  it('answers 202 with the upload to poll before the function times out, when the import outlasts it', async () => {
    const credentials = await newApp('deadline');
    const api = apiClient(runtime.current.url, credentials);
    const campaignId = await draftCampaign(api);
    const rows = 500;
    const request = new Request('http://local/api/campaigns/upload', {
      method: 'POST',
      body: uploadForm(campaignId, audienceCsv(rows)),
    });
    const body = Buffer.from(await request.arrayBuffer());
    const event = {
      resource: '/api/campaigns/upload',
      path: '/api/campaigns/upload',
      httpMethod: 'POST',
      headers: {
        'content-type': request.headers.get('content-type'),
        appId: credentials.appId,
        apiKey: credentials.apiKey,
      },
      multiValueHeaders: {},
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      pathParameters: null,
      stageVariables: null,
      body: body.toString('base64'),
      isBase64Encoded: true,
      requestContext: { requestId: 'deadline-test' },
    };
    const { handler } = await uploadsApiFunction();
    const { handler: importCsv } = await importCsvFunction();

    const context = lambdaContext('uploads-api', 3);
    const result = await handler(event as never, context as never);

    // Answered while the function still had time: Lambda would have cut it off (a 500) after 3 s.
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
    expect(result.statusCode, result.body).toBe(202);
    const answer = JSON.parse(result.body).data;
    expect(answer).toMatchObject({ campaignId, status: 'processing', uploadId: expect.any(String) });
    // The import has not run: the file is stored and its upload waits for it.
    expect(objectEvents).toHaveLength(1);
    const waiting = await api.get(`/api/campaigns/${campaignId}/uploads/${answer.uploadId}`);
    expect(waiting.body.data.status).toBe('pending');

    // The import then runs, and the upload the answer named completes.
    await importCsv(objectEvents[0] as S3Event, lambdaContext('importCsv', 60));
    const upload = await settledUpload(api, campaignId, answer.uploadId);
    expect(upload).toMatchObject({ status: 'completed', uploaded: rows, rejected: 0, duplicates: 0 });
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(rows);
  });
});
