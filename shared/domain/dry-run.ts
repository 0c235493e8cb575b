/**
 * A dry run of an upload: the importer's own `importUpload` (the same two passes over the
 * same stream, the same validation, de-duplication and counting), with the recipient
 * writes replaced by a sink that keeps the first valid recipients for a preview, rendered
 * through the campaign's template (`render.ts`, as delivery renders them). The sink writes
 * nothing: no recipient, no lock, no campaign change. The direct dry run answers the
 * outcome at once; the presigned one keeps it on its upload record only
 * (`completeDryRun` in shared/store/uploads.ts).
 */
import type { CsvDetected } from './csv-stream.ts';
import type { ValidationTotals, ValidRecipient } from './csv-validate.ts';
import { type ImportOutcome, type ImportPorts, importUpload } from './import-upload.ts';
import type { Rejection, VariableValue } from './model.ts';
import { type RenderableTemplate, type RenderedMessage, render } from './render.ts';

/** Valid rows previewed: the file's first ones (duplicates and rejected rows are not valid). */
export const PREVIEW_ROWS = 5;
/** A text in a preview (a variable's value, the title, the body) is cut to this many characters, then `…`. */
export const PREVIEW_TEXT_CHARS = 500;
/**
 * The preview takes at most this many bytes (its JSON, UTF-8): with the rejections' own
 * 64 KiB it keeps a presigned dry run's upload record far under DynamoDB's 400 KB item
 * limit, whatever the rows hold. Rows that would pass it are left out of the preview.
 */
export const PREVIEW_KEPT_BYTES = 64 * 1024;

export interface PreviewEntry {
  /** The row's line number, as in rejections. */
  row: number;
  userId: string;
  /** The recipient's variables as the import would store them (empty cells take their default). */
  variables: Record<string, VariableValue>;
  /** The message this recipient would get. */
  rendered?: RenderedMessage;
  /** Why this recipient's message cannot be rendered (a send would fail it with this reason). */
  renderError?: string;
  /** Set when a text was cut to `PREVIEW_TEXT_CHARS`. */
  truncated?: true;
}

export interface DryRunResult {
  totals: ValidationTotals;
  /** The first rejections, bounded as on an upload record (`REJECTIONS_KEPT`). */
  rejections: Rejection[];
  detected: CsvDetected;
  preview: PreviewEntry[];
}

export type DryRunOutcome = ({ ok: true } & DryRunResult) | Extract<ImportOutcome, { ok: false }>;

/** A text cut to `PREVIEW_TEXT_CHARS` code points, and whether it was cut. */
function cut(text: string): [string, boolean] {
  if (text.length <= PREVIEW_TEXT_CHARS) return [text, false];
  const points = Array.from(text);
  if (points.length <= PREVIEW_TEXT_CHARS) return [text, false];
  return [`${points.slice(0, PREVIEW_TEXT_CHARS).join('')}…`, true];
}

/** One previewed recipient: rendered from its full values, then every text cut for the preview. */
export function previewEntry(template: RenderableTemplate, recipient: ValidRecipient): PreviewEntry {
  let truncated = false;
  const shorten = (text: string) => {
    const [short, wasCut] = cut(text);
    truncated ||= wasCut;
    return short;
  };
  const variables: Record<string, VariableValue> = {};
  for (const [key, value] of Object.entries(recipient.variables)) {
    variables[key] = typeof value === 'string' ? shorten(value) : value;
  }
  const entry: PreviewEntry = { row: recipient.row, userId: recipient.userId, variables };
  try {
    const message = render(template, recipient.variables);
    entry.rendered =
      message.title === undefined
        ? { body: shorten(message.body) }
        : { title: shorten(message.title), body: shorten(message.body) };
  } catch (error) {
    entry.renderError = error instanceof Error ? error.message : String(error);
  }
  if (truncated) entry.truncated = true;
  return entry;
}

export interface DryRunLease {
  /** Pass 1's heartbeat (a presigned dry run renews its lease on the upload record). */
  heartbeat(): Promise<void>;
  /** Pass 2's progress. */
  progress(totals: ValidationTotals): Promise<void>;
}

const nothing = async () => undefined;

/**
 * Runs the import of `open`'s file against `template` with writes off. A file-level
 * error is the import's own (`ok: false`); otherwise the totals, first rejections and
 * `detected` are what the import of the file would report, and `preview` its first valid
 * recipients rendered.
 */
export async function dryRunUpload(
  open: ImportPorts['open'],
  template: RenderableTemplate,
  lease: DryRunLease = { heartbeat: nothing, progress: nothing },
  options: { maxRows?: number } = {},
): Promise<DryRunOutcome> {
  const preview: PreviewEntry[] = [];
  let previewBytes = 0;
  let previewing = true;
  const outcome = await importUpload(
    {
      open,
      // The sink: the first valid recipients for the preview, nothing written.
      writeBatch: async (batch) => {
        for (const recipient of batch) {
          if (!previewing) return;
          const entry = previewEntry(template, recipient);
          const bytes = Buffer.byteLength(JSON.stringify(entry), 'utf8');
          previewing = preview.length < PREVIEW_ROWS && previewBytes + bytes <= PREVIEW_KEPT_BYTES;
          if (previewing) {
            preview.push(entry);
            previewBytes += bytes;
            previewing = preview.length < PREVIEW_ROWS;
          }
        }
      },
      flush: nothing,
      heartbeat: () => lease.heartbeat(),
      progress: (totals) => lease.progress(totals),
      addRejection: () => undefined,
    },
    template.variableSchema,
    options,
  );
  if (!outcome.ok) return outcome;
  return {
    ok: true,
    totals: outcome.totals,
    rejections: outcome.rejections,
    detected: outcome.detected,
    preview,
  };
}
