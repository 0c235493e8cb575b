/** One campaign: its live counts, the CSV drop zone with the import's outcome, and send / schedule / cancel. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { canTransition, isFinalCampaignStatus } from '#shared/domain/campaign-status.ts';
import {
  ApiError,
  type Campaign,
  cancelCampaign,
  type DryRun,
  dryRunCsv,
  exportRecipients,
  followUp,
  getCampaign,
  getExport,
  getUpload,
  type Rejection,
  type Session,
  sendCampaign,
  type Upload,
  uploadCsv,
} from './api.ts';
import { DeliveryChart } from './delivery-chart.tsx';
import { formatBytes, formatNumber, formatTime, messageOf, StatusBadge } from './format.tsx';
import {
  type DashboardConfig,
  DEFAULT_DIRECT_UPLOAD_MAX_BYTES,
  lastUploadId,
  rememberUpload,
} from './session.ts';

/** Calls `tick` every `intervalMs` while `active`, one call at a time. */
function usePolling(active: boolean, intervalMs: number, tick: () => Promise<unknown>): void {
  const latest = useRef(tick);
  latest.current = tick;
  useEffect(() => {
    if (!active) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const loop = async () => {
      await latest.current().catch(() => undefined);
      if (!stopped) timer = setTimeout(loop, intervalMs);
    };
    timer = setTimeout(loop, intervalMs);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [active, intervalMs]);
}

/** Whether the campaign's status or counts can still move without the operator doing anything. */
function isLive(campaign: Campaign | undefined): boolean {
  if (campaign?.copying) return true;
  if (!campaign || campaign.status === 'draft') return false;
  if (campaign.status === 'sending' || campaign.status === 'scheduled') return true;
  const { sent, failed, skipped } = campaign.counts;
  return sent + failed + skipped < campaign.recipientCount;
}

export function CampaignView(props: { session: Session; config?: DashboardConfig; campaignId: string }) {
  const { session, campaignId } = props;
  const [campaign, setCampaign] = useState<Campaign | undefined>();
  const [error, setError] = useState<string | undefined>();

  const load = useCallback(async () => {
    try {
      setCampaign(await getCampaign(session, campaignId));
      setError(undefined);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 404
          ? `No campaign '${campaignId}' in app '${session.appId}'.`
          : `Could not load the campaign: ${messageOf(err)}`,
      );
    }
  }, [session, campaignId]);

  useEffect(() => {
    void load();
  }, [load]);

  // Live while it can still change on its own: every second while sending, every two while
  // scheduled, and after a cancel until the sweep has marked every undelivered recipient skipped.
  const status = campaign?.status;
  usePolling(isLive(campaign), status === 'sending' ? 1000 : 2000, load);

  if (!campaign) {
    return (
      <div class="stack">
        <a href="#/">← All campaigns</a>
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : (
          <p aria-live="polite">Loading…</p>
        )}
      </div>
    );
  }

  return (
    <div class="stack-lg">
      <div class="stack-sm">
        <a href="#/">← All campaigns</a>
        <div class="row">
          <h1>{campaign.name}</h1>
          <StatusBadge status={campaign.status} />
        </div>
        <p class="muted small">
          {campaign.id}
          {campaign.tag ? ` · tag ${campaign.tag}` : ''} · created {formatTime(campaign.createdAt)}
          {campaign.scheduledAt ? ` · scheduled for ${formatTime(campaign.scheduledAt)}` : ''}
        </p>
        {campaign.followUpOf && (
          <p class="small">
            Follow-up of{' '}
            <a href={`#/campaigns/${encodeURIComponent(campaign.followUpOf)}`}>{campaign.followUpOf}</a>
            {campaign.copying ? ' · copying its recipients…' : ''}
          </p>
        )}
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <Delivery campaign={campaign} />
      <Actions session={session} campaign={campaign} onChanged={setCampaign} reload={load} />
      <AfterSend session={session} campaign={campaign} />
      <Recipients
        session={session}
        campaign={campaign}
        maxBytes={props.config?.directUploadMaxBytes ?? DEFAULT_DIRECT_UPLOAD_MAX_BYTES}
        onImported={load}
      />
    </div>
  );
}

function Stat(props: { label: string; value: number; tone?: string }) {
  return (
    <div class={`stat ${props.tone ?? ''}`}>
      <dt class="stat-label">{props.label}</dt>
      <dd class="stat-value">{formatNumber(props.value)}</dd>
    </div>
  );
}

function Delivery(props: { campaign: Campaign }) {
  const { campaign } = props;
  const { counts, recipientCount } = campaign;
  const done = counts.sent + counts.failed + counts.skipped;
  return (
    <section class="card stack" aria-labelledby="delivery-title">
      <h2 id="delivery-title">Delivery</h2>
      <dl class="stats">
        <Stat label="Recipients" value={recipientCount} />
        <Stat label="Pending" value={counts.pending} />
        <Stat label="Queued" value={counts.queued} />
        <Stat label="Sent" value={counts.sent} tone="good" />
        <Stat label="Failed" value={counts.failed} tone={counts.failed > 0 ? 'bad' : ''} />
        <Stat label="Skipped" value={counts.skipped} />
      </dl>
      <div class="stack-sm">
        <progress
          class="bar"
          max={Math.max(recipientCount, 1)}
          value={done}
          aria-label="Delivery progress"
          aria-valuetext={`${done} of ${recipientCount} recipients processed`}
        />
        <p class="small" aria-live="polite">
          {formatNumber(counts.sent)} of {formatNumber(recipientCount)} sent
          {counts.failed > 0 ? `, ${formatNumber(counts.failed)} failed` : ''}
          {counts.skipped > 0 ? `, ${formatNumber(counts.skipped)} skipped` : ''}
          {isLive(campaign) && campaign.status !== 'scheduled' ? ' · updating live' : ''}
        </p>
      </div>
      <DeliveryChart campaign={campaign} />
    </section>
  );
}

/** A datetime-local input's value as the API's ISO-8601 UTC. */
function toIso(local: string): string | undefined {
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function Actions(props: {
  session: Session;
  campaign: Campaign;
  onChanged: (campaign: Campaign) => void;
  reload: () => Promise<void>;
}) {
  const { session, campaign } = props;
  const [when, setWhen] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const canSend = campaign.status === 'draft';
  const canCancel = canTransition(campaign.status, 'cancelled');
  if (!canSend && !canCancel) return null;

  const act = async (action: () => Promise<Partial<Campaign>>) => {
    setError(undefined);
    setBusy(true);
    try {
      const changed = await action();
      props.onChanged({ ...campaign, ...changed });
      await props.reload();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  const schedule = (e: Event) => {
    e.preventDefault();
    const scheduledAt = toIso(when);
    if (!scheduledAt) {
      setError('Pick a date and time to schedule the campaign.');
      return;
    }
    if (Date.parse(scheduledAt) <= Date.now()) {
      setError('Pick a time in the future, or use Send now.');
      return;
    }
    void act(() => sendCampaign(session, campaign.id, scheduledAt));
  };

  const noRecipients = campaign.recipientCount === 0 || campaign.copying === true;
  return (
    <section class="card stack" aria-labelledby="actions-title">
      <h2 id="actions-title">Send</h2>
      {canSend && noRecipients && (
        <p class="muted">
          {campaign.copying
            ? 'The recipients are being copied; send once they are all here.'
            : 'Upload recipients below before sending.'}
        </p>
      )}
      <div class="row wrap">
        {canSend && (
          <button
            type="button"
            class="primary"
            disabled={busy || noRecipients}
            onClick={() => void act(() => sendCampaign(session, campaign.id))}
          >
            Send now
          </button>
        )}
        {canSend && (
          <form class="row" onSubmit={schedule}>
            <label class="inline">
              Send at
              <input type="datetime-local" value={when} onInput={(e) => setWhen(e.currentTarget.value)} />
            </label>
            <button type="submit" disabled={busy || noRecipients}>
              Schedule
            </button>
          </form>
        )}
        {canCancel && (
          <button
            type="button"
            class="danger"
            disabled={busy}
            onClick={() => {
              if (confirm(`Cancel “${campaign.name}”? Recipients not yet delivered will be skipped.`)) {
                void act(() => cancelCampaign(session, campaign.id));
              }
            }}
          >
            Cancel campaign
          </button>
        )}
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

/** Downloads `href` as `name` through a temporary link. */
function download(href: string, name: string) {
  const a = document.createElement('a');
  a.href = href;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
}

/** A finished campaign: export its recipients as CSV, and follow up the failed ones. */
function AfterSend(props: { session: Session; campaign: Campaign }) {
  const { session, campaign } = props;
  const [note, setNote] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  if (!isFinalCampaignStatus(campaign.status)) return null;
  const failed = campaign.counts.failed;

  const run = async (action: () => Promise<void>) => {
    setError(undefined);
    setBusy(true);
    try {
      await action();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  const exportCsv = () =>
    run(async () => {
      const file = `${campaign.id}-recipients.csv`;
      setNote('Exporting…');
      const answer = await exportRecipients(session, campaign.id);
      if ('csv' in answer) {
        const url = URL.createObjectURL(answer.csv);
        download(url, file);
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
        setNote(`Exported ${file}.`);
        return;
      }
      // A large export is written by a job: follow it, then download its file.
      for (;;) {
        const job = await getExport(session, campaign.id, answer.exportId);
        if (job.status === 'ready' && job.url) {
          download(job.url, file);
          setNote(`Exported ${formatNumber(job.rows)} recipients.`);
          return;
        }
        if (job.status === 'failed') {
          throw new Error(
            typeof job.error === 'string' ? job.error : (job.error?.message ?? 'the export failed'),
          );
        }
        setNote(`Exporting… ${formatNumber(job.rows)} rows written`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    });

  const followUpFailed = () =>
    run(async () => {
      const created = await followUp(session, campaign.id, {
        name: `${campaign.name} (follow-up)`.slice(0, 200),
        statuses: ['failed'],
      });
      location.hash = `#/campaigns/${encodeURIComponent(created.id)}`;
    });

  return (
    <section class="card stack" aria-labelledby="after-title">
      <h2 id="after-title">After the send</h2>
      <div class="row wrap">
        <button type="button" disabled={busy} onClick={() => void exportCsv()}>
          Export
        </button>
        {failed > 0 && (
          <button type="button" class="primary" disabled={busy} onClick={() => void followUpFailed()}>
            Follow up failed ({formatNumber(failed)})
          </button>
        )}
      </div>
      <p class="muted small">
        Export downloads every recipient with its variables, status and error, as a CSV you can upload again.
        {failed > 0
          ? ' Follow up makes a new draft campaign of the failed recipients, with their variables.'
          : ''}
      </p>
      {note && (
        <p class="small" aria-live="polite">
          {note}
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

type UploadState =
  | { phase: 'idle' }
  | { phase: 'checking'; file: string; sent: number; total: number }
  | { phase: 'checked'; file: File; dryRun: DryRun }
  | { phase: 'uploading'; file: string; sent: number; total: number }
  | { phase: 'importing'; file: string; rowsRead?: number }
  | { phase: 'done'; file?: string; upload: Upload }
  | { phase: 'error'; message: string };

function Recipients(props: {
  session: Session;
  campaign: Campaign;
  maxBytes: number;
  onImported: () => Promise<void>;
}) {
  const { session, campaign, maxBytes } = props;
  const [state, setState] = useState<UploadState>({ phase: 'idle' });
  const [dragging, setDragging] = useState(false);
  const busy = state.phase === 'uploading' || state.phase === 'importing' || state.phase === 'checking';
  const accepts = campaign.status === 'draft';

  // The last import made from this tab, so its outcome stays on the page after a reload or a send.
  useEffect(() => {
    const uploadId = lastUploadId(campaign.id);
    if (!uploadId) return;
    getUpload(session, campaign.id, uploadId)
      .then((upload) => setState((s) => (s.phase === 'idle' ? { phase: 'done', upload } : s)))
      .catch(() => undefined);
  }, [session, campaign.id]);

  // Polling an import stops when the operator leaves the page (the import goes on server-side).
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );

  const settle = async (file: string, uploadId: string) => {
    rememberUpload(campaign.id, uploadId);
    while (mounted.current) {
      const upload = await getUpload(session, campaign.id, uploadId);
      if (upload.status === 'completed' || upload.status === 'failed') {
        setState({ phase: 'done', file, upload });
        return;
      }
      setState({ phase: 'importing', file, rowsRead: upload.rowsRead });
      await new Promise((r) => setTimeout(r, 1000));
    }
  };

  /** First the dry run: what an import of the file would do, with nothing stored. */
  const check = async (file: File) => {
    if (file.size > maxBytes) {
      setState({
        phase: 'error',
        message: `${file.name} is ${formatBytes(file.size)}; the dashboard uploads files up to ${formatBytes(maxBytes)}. Upload bigger files (up to 50 MB) with a presigned URL: POST /api/campaigns/{id}/upload-url, then PUT the file (see README).`,
      });
      return;
    }
    setState({ phase: 'checking', file: file.name, sent: 0, total: file.size });
    try {
      const dryRun = await dryRunCsv(session, campaign.id, file, (sent, total) =>
        setState((s) => (s.phase === 'checking' ? { ...s, sent, total } : s)),
      );
      setState({ phase: 'checked', file, dryRun });
    } catch (err) {
      setState({ phase: 'error', message: `${file.name} was not imported: ${messageOf(err)}` });
    }
  };

  /** Then, on the operator's second click, the import itself. */
  const start = async (file: File) => {
    setState({ phase: 'uploading', file: file.name, sent: 0, total: file.size });
    try {
      const result = await uploadCsv(session, campaign.id, file, (sent, total) =>
        setState((s) => (s.phase === 'uploading' ? { ...s, sent, total } : s)),
      );
      setState({ phase: 'importing', file: file.name });
      await settle(file.name, result.uploadId);
    } catch (err) {
      setState({ phase: 'error', message: `${file.name} was not imported: ${messageOf(err)}` });
    }
    await props.onImported();
  };

  const onFiles = (files: FileList | null | undefined) => {
    const file = files?.[0];
    if (file && !busy) void check(file);
  };

  return (
    <section class="card stack" aria-labelledby="recipients-title">
      <h2 id="recipients-title">Recipients</h2>
      {accepts ? (
        <label
          class={`dropzone ${dragging ? 'dragging' : ''} ${busy ? 'busy' : ''}`}
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(e) => {
            e.preventDefault();
            setDragging(false);
            onFiles(e.dataTransfer?.files);
          }}
        >
          <input
            type="file"
            class="visually-hidden"
            accept=".csv,text/csv"
            disabled={busy}
            onChange={(e) => {
              onFiles(e.currentTarget.files);
              e.currentTarget.value = '';
            }}
          />
          <span class="dropzone-title">Drop a CSV file here, or choose one</span>
          <span class="muted small">
            A <code>user_id</code> column plus one column per template variable; up to {formatBytes(maxBytes)}
            .
          </span>
        </label>
      ) : (
        <p class="muted">
          {formatNumber(campaign.recipientCount)} recipients. Recipients can be added only while the campaign
          is a draft.
        </p>
      )}
      {state.phase === 'checked' ? (
        <DryRunResult
          file={state.file.name}
          dryRun={state.dryRun}
          onImport={() => void start(state.file)}
          onDiscard={() => setState({ phase: 'idle' })}
        />
      ) : (
        <UploadStatus state={state} />
      )}
    </section>
  );
}

function UploadStatus(props: { state: UploadState }) {
  const { state } = props;
  switch (state.phase) {
    case 'idle':
    case 'checked':
      return null;
    case 'checking':
      return (
        <div class="stack-sm" aria-live="polite">
          <progress
            class="bar"
            max={Math.max(state.total, 1)}
            value={state.sent}
            aria-label="Check progress"
          />
          <p class="small">Checking {state.file}…</p>
        </div>
      );
    case 'uploading':
      return (
        <div class="stack-sm" aria-live="polite">
          <progress
            class="bar"
            max={Math.max(state.total, 1)}
            value={state.sent}
            aria-label="Upload progress"
          />
          <p class="small">
            Uploading {state.file}: {formatBytes(state.sent)} of {formatBytes(state.total)}
          </p>
        </div>
      );
    case 'importing':
      return (
        <div class="stack-sm" aria-live="polite">
          <progress class="bar" aria-label="Import progress" />
          <p class="small">
            Importing {state.file}…
            {state.rowsRead !== undefined ? ` ${formatNumber(state.rowsRead)} rows read` : ''}
          </p>
        </div>
      );
    case 'error':
      return (
        <p class="error" role="alert">
          {state.message}
        </p>
      );
    case 'done':
      return <ImportResult file={state.file} upload={state.upload} />;
  }
}

function ImportResult(props: { file?: string; upload: Upload }) {
  const { upload } = props;
  return (
    <div class="stack" aria-live="polite">
      {upload.status === 'failed' ? (
        <p class="error" role="alert">
          Import failed{props.file ? ` for ${props.file}` : ''}: {upload.error?.message ?? 'no reason given'}
        </p>
      ) : (
        <p class="success">
          <strong>Import complete{props.file ? `: ${props.file}` : ''}.</strong>{' '}
          <span>{formatNumber(upload.uploaded)} imported</span> ·{' '}
          <span>{formatNumber(upload.rejected)} rejected</span> ·{' '}
          <span>{formatNumber(upload.duplicates)} duplicates</span> · {formatNumber(upload.rowsRead)} rows
          read
        </p>
      )}
      <RejectionsTable rejections={upload.rejections} rejected={upload.rejected} />
      {upload.rejectionsReportUrl && (
        <p class="small">
          <a href={upload.rejectionsReportUrl} download>
            Download the rejections report (CSV)
          </a>
        </p>
      )}
    </div>
  );
}

/** The first rejected rows of an upload or a dry run, with row, user and reason. */
function RejectionsTable(props: { rejections: readonly Rejection[]; rejected: number }) {
  const shown = props.rejections.slice(0, 10);
  if (shown.length === 0) return null;
  return (
    <table class="table compact">
      <caption>
        {props.rejected > shown.length
          ? `First ${shown.length} of ${formatNumber(props.rejected)} rejected rows`
          : 'Rejected rows'}
      </caption>
      <thead>
        <tr>
          <th scope="col" class="num">
            Row
          </th>
          <th scope="col">User</th>
          <th scope="col">Reason</th>
        </tr>
      </thead>
      <tbody>
        {shown.map((r) => (
          <tr key={r.row}>
            <td class="num">{r.row}</td>
            <td>{r.userId || <span class="muted">(empty)</span>}</td>
            <td>{r.reason}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const LINE_ENDINGS: Record<string, string> = {
  LF: 'LF line breaks',
  CRLF: 'CRLF line breaks',
  mixed: 'mixed line breaks',
  none: 'a single line',
};

/** The dry run's answer: what was detected, what would be imported and rejected, and what the first recipient will see. */
function DryRunResult(props: { file: string; dryRun: DryRun; onImport: () => void; onDiscard: () => void }) {
  const { dryRun } = props;
  const { detected } = dryRun;
  const first = dryRun.preview[0];
  return (
    <div class="stack" aria-live="polite">
      <p>
        <strong>Checked {props.file}; nothing is imported yet.</strong>{' '}
        <span>{formatNumber(dryRun.uploaded)} would be imported</span> ·{' '}
        <span>{formatNumber(dryRun.rejected)} rejected</span> ·{' '}
        <span>{formatNumber(dryRun.duplicates)} duplicates</span> · {formatNumber(dryRun.rowsRead)} rows read
      </p>
      <p class="small muted" data-testid="detected">
        Detected: {detected.encoding}
        {detected.bom ? ' with a BOM' : ', no BOM'},{' '}
        {LINE_ENDINGS[detected.lineEndings] ?? detected.lineEndings}, delimiter “{detected.delimiter}”,{' '}
        {formatNumber(detected.rows)} data rows
      </p>
      <RejectionsTable rejections={dryRun.rejections} rejected={dryRun.rejected} />
      {first && (
        <figure class="card preview">
          <figcaption class="small muted">What the first recipient ({first.userId}) will see</figcaption>
          {first.rendered ? (
            <div class="stack-sm">
              {first.rendered.title && <strong>{first.rendered.title}</strong>}
              <p>{first.rendered.body}</p>
            </div>
          ) : (
            <p class="error">{first.renderError}</p>
          )}
        </figure>
      )}
      <div class="row wrap">
        <button type="button" class="primary" disabled={dryRun.uploaded === 0} onClick={props.onImport}>
          Import {formatNumber(dryRun.uploaded)} recipients
        </button>
        <button type="button" onClick={props.onDiscard}>
          Choose another file
        </button>
      </div>
    </div>
  );
}
