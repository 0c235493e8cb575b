/**
 * A direct upload waits for its import, but never past its own function's timeout: under
 * load (found by `npm run bench:load`), uploads whose import outlasted the API function
 * were answered with a timed-out 500 that hid the upload they had started.
 */
import { describe, expect, it } from 'vitest';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { audienceCsv, draftCampaign, settledUpload, uploadForm } from '#test/support/uploads.ts';

const runtime = useRuntime({ env: { UPLOAD_WAIT_SECONDS: '20' } });

describe('direct upload near its function timeout', () => {
  it('answers with the upload to poll, not a 500, when the import outlasts the function', async () => {
    const credentials = await newApp('deadline');
    const api = apiClient(runtime.current.url, credentials);
    const campaignId = await draftCampaign(api);
    const rows = 50_000;
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
    const { handler } = await import('#functions/uploads-api.ts');
    const { lambdaContext } = await import('#infra/local/lambda-context.ts');

    // The function is given 5 s: less than the 20 s wait, and less than a 50,000-row import takes.
    const result = await handler(event as never, lambdaContext('uploads-api', 5) as never);

    expect(result.statusCode, result.body).not.toBe(500);
    const answer = JSON.parse(result.body).data;
    expect(answer).toMatchObject({
      campaignId,
      status: result.statusCode === 202 ? 'processing' : 'completed',
    });
    const upload = await settledUpload(api, campaignId, answer.uploadId, 280_000);
    expect(upload).toMatchObject({ status: 'completed', uploaded: rows, rejected: 0, duplicates: 0 });
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(rows);
  }, 300_000);
});
