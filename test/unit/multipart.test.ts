import { describe, expect, it } from 'vitest';
import { parseDirectUpload } from '#shared/http/multipart.ts';

const boundary = '----test-boundary';
const contentType = `multipart/form-data; boundary=${boundary}`;

function form(parts: Array<{ name: string; value: string; filename?: string }>): Buffer {
  const chunks = parts.map((p) => {
    const disposition = p.filename
      ? `form-data; name="${p.name}"; filename="${p.filename}"\r\nContent-Type: text/csv`
      : `form-data; name="${p.name}"`;
    return `--${boundary}\r\nContent-Disposition: ${disposition}\r\n\r\n${p.value}\r\n`;
  });
  return Buffer.from(`${chunks.join('')}--${boundary}--\r\n`);
}

describe('direct upload form', () => {
  it('reads the file and the campaign id', async () => {
    const body = form([
      { name: 'campaignId', value: 'cmp_1' },
      { name: 'file', value: 'user_id,name\nu1,Ada\n', filename: 'audience.csv' },
    ]);
    const upload = await parseDirectUpload(body, contentType, 1024);
    expect(upload).toEqual({
      campaignId: 'cmp_1',
      file: Buffer.from('user_id,name\nu1,Ada\n'),
      filename: 'audience.csv',
    });
  });

  it('refuses a file over the limit and names the presigned path', async () => {
    const body = form([
      { name: 'campaignId', value: 'cmp_1' },
      { name: 'file', value: 'x'.repeat(2000), filename: 'big.csv' },
    ]);
    await expect(parseDirectUpload(body, contentType, 1000)).rejects.toMatchObject({
      code: 'ERR_PAYLOAD_TOO_LARGE',
      message: expect.stringContaining('/upload-url'),
    });
  });

  it('refuses a body without a file', async () => {
    await expect(
      parseDirectUpload(form([{ name: 'campaignId', value: 'c' }]), contentType, 1000),
    ).rejects.toThrow("No file: send the CSV in the form field 'file'.");
  });

  it('refuses two files', async () => {
    const body = form([
      { name: 'campaignId', value: 'c' },
      { name: 'file', value: 'user_id\n1\n', filename: 'a.csv' },
      { name: 'file', value: 'user_id\n2\n', filename: 'b.csv' },
    ]);
    await expect(parseDirectUpload(body, contentType, 1000)).rejects.toThrow(
      "Send exactly one file in the field 'file'.",
    );
  });

  it('names a file sent under the wrong field name', async () => {
    const body = form([
      { name: 'campaignId', value: 'c' },
      { name: 'csv', value: 'user_id\n1\n', filename: 'a.csv' },
    ]);
    await expect(parseDirectUpload(body, contentType, 1000)).rejects.toThrow(
      "The CSV must be sent in the form field 'file', not 'csv'.",
    );
  });

  it('refuses a body without campaignId', async () => {
    const body = form([{ name: 'file', value: 'user_id\n1\n', filename: 'a.csv' }]);
    await expect(parseDirectUpload(body, contentType, 1000)).rejects.toThrow(
      "Missing form field 'campaignId'.",
    );
  });

  it('refuses a body that is not multipart', async () => {
    await expect(parseDirectUpload(Buffer.from('{}'), 'application/json', 1000)).rejects.toMatchObject({
      code: 'ERR_BAD_REQUEST',
      message: expect.stringContaining('multipart/form-data'),
    });
  });

  it('refuses a truncated body', async () => {
    const whole = form([
      { name: 'campaignId', value: 'c' },
      { name: 'file', value: 'user_id\n1\n', filename: 'a.csv' },
    ]);
    await expect(
      parseDirectUpload(whole.subarray(0, whole.length - 30), contentType, 1000),
    ).rejects.toMatchObject({
      code: 'ERR_BAD_REQUEST',
    });
  });
});
