/**
 * The direct upload's `multipart/form-data` body, stream-parsed with busboy: exactly one
 * file in the field `file` and one `campaignId` field. The file is collected only up to
 * the direct-upload limit; past it the request is refused with the presigned path named.
 */
import busboy from 'busboy';
import { InvalidInputError, PayloadTooLargeError } from '#shared/errors.ts';

export interface DirectUpload {
  campaignId: string;
  file: Buffer;
  filename: string | undefined;
}

/** Parses `body` as `multipart/form-data` with the boundary of `contentType`. */
export async function parseDirectUpload(
  body: Buffer,
  contentType: string,
  maxBytes: number,
): Promise<DirectUpload> {
  if (!/^multipart\/form-data\b/i.test(contentType) || !/boundary=/i.test(contentType)) {
    throw new InvalidInputError(
      `Content-Type must be multipart/form-data with a boundary, got '${contentType || '(none)'}'; send the CSV as the form field 'file' and the campaign id as 'campaignId'.`,
    );
  }
  return new Promise<DirectUpload>((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: { 'content-type': contentType },
        limits: { files: 2, fields: 10, fileSize: maxBytes, fieldSize: 1024 },
      });
    } catch (error) {
      reject(new InvalidInputError(`The multipart body cannot be read: ${(error as Error).message}.`));
      return;
    }
    let campaignId: string | undefined;
    let file: Buffer | undefined;
    let filename: string | undefined;
    let failure: Error | undefined;
    let files = 0;
    const fail = (error: Error) => {
      failure ??= error;
    };

    parser.on('field', (name, value) => {
      if (name === 'campaignId') campaignId = value.trim();
      else
        fail(
          new InvalidInputError(`Unknown form field '${name}'; send only 'file' and 'campaignId'.`, {
            field: name,
          }),
        );
    });
    parser.on('file', (name, stream, info) => {
      files += 1;
      if (name !== 'file') {
        fail(
          new InvalidInputError(`The CSV must be sent in the form field 'file', not '${name}'.`, {
            field: name,
          }),
        );
        stream.resume();
        return;
      }
      if (files > 1) {
        fail(new InvalidInputError("Send exactly one file in the field 'file'.", { field: 'file' }));
        stream.resume();
        return;
      }
      const chunks: Buffer[] = [];
      // A truncated body errors the file stream too; the parser's own error reports it.
      stream.on('error', () => undefined);
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => {
        fail(
          new PayloadTooLargeError(
            `The file is over the direct upload limit of ${maxBytes} bytes; upload it with POST /api/campaigns/{id}/upload-url and a PUT to the returned URL.`,
            { maxBytes },
          ),
        );
      });
      stream.on('end', () => {
        file = Buffer.concat(chunks);
        filename = info.filename;
      });
    });
    parser.on('filesLimit', () =>
      fail(new InvalidInputError("Send exactly one file in the field 'file'.", { field: 'file' })),
    );
    parser.on('error', (error: Error) =>
      reject(failure ?? new InvalidInputError(`The multipart body is malformed: ${error.message}.`)),
    );
    parser.on('close', () => {
      if (failure) return reject(failure);
      if (!file)
        return reject(
          new InvalidInputError("No file: send the CSV in the form field 'file'.", { field: 'file' }),
        );
      if (!campaignId) {
        return reject(new InvalidInputError("Missing form field 'campaignId'.", { field: 'campaignId' }));
      }
      resolve({ campaignId, file, filename });
    });
    parser.end(body);
  });
}
