/**
 * Presigned upload URLs are what S3 makes of them: they expire, and they are bound to
 * their object key, their declared size and content type, and their signature. The
 * local S3 refuses them as S3 does (infra/local/presigned-check.ts); every refused PUT
 * leaves no object, no import and no recipient. URLs here live 10 seconds.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { apiClient, newApp, useRuntime } from '#test/support/runtime.ts';
import { audienceCsv, draftCampaign, settledUpload } from '#test/support/uploads.ts';

const URL_SECONDS = 10;
const runtime = useRuntime({ env: { PRESIGNED_URL_SECONDS: String(URL_SECONDS) } });

async function client() {
  return apiClient(runtime.current.url, await newApp('presign'));
}

type Client = Awaited<ReturnType<typeof client>>;

interface Presigned {
  uploadId: string;
  url: string;
  headers: Record<string, string>;
  expiresAt: string;
}

async function uploadUrl(api: Client, campaignId: string, csv: string): Promise<Presigned> {
  const res = await api.post(`/api/campaigns/${campaignId}/upload-url`, {
    contentLength: Buffer.byteLength(csv),
  });
  expect(res.status).toBe(201);
  return res.body.data;
}

async function put(url: string, body: string, headers: Record<string, string>) {
  const res = await fetch(url, { method: 'PUT', headers, body });
  return { status: res.status, text: await res.text() };
}

/** The headers the API told the client to send, but the length, which fetch sets from the body. */
const withoutLength = ({ 'content-length': _omit, ...rest }: Record<string, string>) => rest;

/** Nothing of the upload reached the bucket or the campaign. */
async function expectNothingImported(api: Client, campaignId: string, presigned: Presigned) {
  const { client: s3, name: bucketName } = runtime.current.bucket;
  const key = decodeURIComponent(new URL(presigned.url).pathname.split('/').slice(2).join('/'));
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucketName, Key: key })).catch((e) => e);
  expect(head.name, `object ${key} must not exist`).toBe('NotFound');
  const upload = await api.get(`/api/campaigns/${campaignId}/uploads/${presigned.uploadId}`);
  expect(upload.body.data).toMatchObject({ status: 'pending', rowsRead: 0, uploaded: 0 });
  const campaign = await api.get(`/api/campaigns/${campaignId}`);
  expect(campaign.body.data.recipientCount).toBe(0);
  expect((await api.get(`/api/campaigns/${campaignId}/recipients`)).body.data).toEqual([]);
}

describe('presigned upload URLs', () => {
  it('refuses a URL used after it expired, with S3 "Request has expired"', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const csv = audienceCsv(20);
    const presigned = await uploadUrl(api, campaignId, csv);
    const signedAt = new URL(presigned.url).searchParams.get('X-Amz-Date') as string;
    expect(new URL(presigned.url).searchParams.get('X-Amz-Expires')).toBe(String(URL_SECONDS));
    // Wait until the URL's own expiry (X-Amz-Date + X-Amz-Expires) has passed.
    const signed = Date.parse(
      signedAt.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
    );
    await new Promise((r) => setTimeout(r, Math.max(0, signed + URL_SECONDS * 1000 + 1500 - Date.now())));

    const res = await put(presigned.url, csv, presigned.headers);
    expect(res.status).toBe(403);
    expect(res.text).toContain('<Code>AccessDenied</Code>');
    expect(res.text).toContain('<Message>Request has expired</Message>');
    await expectNothingImported(api, campaignId, presigned);
  }, 60_000);

  it('refuses a URL used for another object key, another size or type, or with a changed signature; the URL itself then works', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const csv = audienceCsv(30);
    const presigned = await uploadUrl(api, campaignId, csv);
    const other = await uploadUrl(api, campaignId, csv);
    const otherCampaign = await draftCampaign(api);
    const elsewhere = await uploadUrl(api, otherCampaign, csv);
    const pathOf = (p: Presigned) => new URL(p.url).pathname;
    const signature = new URL(presigned.url).searchParams.get('X-Amz-Signature') as string;
    const flipped = `${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`;

    const attempts: [string, string, string, Record<string, string>][] = [
      [
        'another upload of the campaign',
        presigned.url.replace(pathOf(presigned), pathOf(other)),
        csv,
        presigned.headers,
      ],
      [
        "another campaign's upload",
        presigned.url.replace(pathOf(presigned), pathOf(elsewhere)),
        csv,
        presigned.headers,
      ],
      [
        'a body one byte longer',
        presigned.url,
        `${csv}u999999,Extra,1,true\n`.slice(0, csv.length + 1),
        withoutLength(presigned.headers),
      ],
      ['a body one byte shorter', presigned.url, csv.slice(0, -1), withoutLength(presigned.headers)],
      ['another content type', presigned.url, csv, { ...presigned.headers, 'content-type': 'text/plain' }],
      ['a changed signature', presigned.url.replace(signature, flipped), csv, presigned.headers],
      [
        'a longer validity',
        presigned.url.replace(`X-Amz-Expires=${URL_SECONDS}`, 'X-Amz-Expires=3600'),
        csv,
        presigned.headers,
      ],
    ];
    for (const [what, url, body, headers] of attempts) {
      const res = await put(url, body, headers);
      expect(res.status, what).toBe(403);
      expect(res.text, what).toContain('<Code>SignatureDoesNotMatch</Code>');
    }
    for (const p of [presigned, other]) await expectNothingImported(api, campaignId, p);
    await expectNothingImported(api, otherCampaign, elsewhere);

    // The URL as given, used as told, is accepted and imported.
    const ok = await put(presigned.url, csv, presigned.headers);
    expect(ok.status).toBe(200);
    const upload = await settledUpload(api, campaignId, presigned.uploadId);
    expect(upload).toMatchObject({ status: 'completed', uploaded: 30 });
    expect((await api.get(`/api/campaigns/${campaignId}`)).body.data.recipientCount).toBe(30);
  }, 60_000);

  it('a valid URL imports the file; SDK-signed requests are not affected', async () => {
    const api = await client();
    const campaignId = await draftCampaign(api);
    const csv = audienceCsv(40);
    const presigned = await uploadUrl(api, campaignId, csv);
    expect(Date.parse(presigned.expiresAt)).toBeGreaterThan(Date.now());
    // Bound to its length, type and host; no checksum of the empty body it had when signed.
    const query = new URL(presigned.url).searchParams;
    expect(query.get('X-Amz-SignedHeaders')).toBe('content-length;content-type;host');
    expect([...query.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);
    const res = await put(presigned.url, csv, presigned.headers);
    expect(res.status).toBe(200);
    const upload = await settledUpload(api, campaignId, presigned.uploadId);
    expect(upload).toMatchObject({ status: 'completed', uploaded: 40, rejected: 0 });
    // The direct path stores its file with the SDK (signed in the Authorization header).
    const second = await draftCampaign(api);
    const form = new FormData();
    form.set('campaignId', second);
    form.set('file', new Blob([audienceCsv(5)]), 'a.csv');
    const direct = await api.request<any>('POST', '/api/campaigns/upload', { body: form });
    expect(direct.status).toBe(200);
    expect(direct.body.data).toMatchObject({ uploaded: 5, total: 5 });
  });
});
