/**
 * Settings: the app's destination (the deployment's default channel, or a webhook of its
 * own), its signing secret and a test send. A signing secret the API answers is kept in
 * this component's state only (never in storage or the URL): it is shown once.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import {
  type Destination,
  type DestinationTest,
  getDestination,
  putDestination,
  rotateSigningSecret,
  type Session,
  testDestination,
} from './api.ts';
import { formatNumber, formatTime, messageOf } from './format.tsx';

/** The API's limits (docs/api.md, Destinations). */
const MAX_BATCH_SIZE = 100;
const MAX_RATE_PER_SECOND = 10_000;

/** A secret answered by the API, and whether it came from a rotation. */
interface ShownSecret {
  value: string;
  rotated: boolean;
}

export function Settings(props: { session: Session }) {
  const { session } = props;
  const [destination, setDestination] = useState<Destination | undefined>();
  const [secret, setSecret] = useState<ShownSecret | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [notice, setNotice] = useState<string | undefined>();

  const load = useCallback(async () => {
    setError(undefined);
    try {
      setDestination(await getDestination(session));
    } catch (err) {
      setError(`Could not load the destination: ${messageOf(err)}`);
    }
  }, [session]);

  useEffect(() => {
    void load();
  }, [load]);

  const changed = (next: Destination) => {
    const { signingSecret, ...view } = next;
    setDestination(view);
    setNotice(
      view.kind === 'webhook'
        ? `Saved: messages now go to ${view.url}.`
        : "Saved: messages now go to the deployment's default channel.",
    );
    if (signingSecret) setSecret({ value: signingSecret, rotated: false });
  };

  return (
    <div class="stack-lg">
      <div class="stack-sm">
        <h1>Settings</h1>
        <p class="muted">Where the messages of app {session.appId} go, and how they are signed.</p>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {notice && (
        <p class="success" role="status">
          {notice}
        </p>
      )}
      {secret && <SecretBox secret={secret} onDismiss={() => setSecret(undefined)} />}
      {destination === undefined ? (
        !error && <p aria-live="polite">Loading…</p>
      ) : (
        <>
          <CurrentDestination destination={destination} />
          <div class="grid-2">
            <WebhookForm
              key={destination.updatedAt ?? 'never'}
              session={session}
              destination={destination}
              onChanged={changed}
            />
            {destination.kind === 'webhook' && (
              <div class="stack-lg">
                <TestSend session={session} />
                <RotateSecret
                  session={session}
                  destination={destination}
                  onRotated={(value) => {
                    setSecret({ value, rotated: true });
                    setNotice(undefined);
                    void load();
                  }}
                />
              </div>
            )}
          </div>
        </>
      )}
    </div>
  );
}

function CurrentDestination(props: { destination: Destination }) {
  const d = props.destination;
  return (
    <section class="card stack" aria-labelledby="destination-title">
      <h2 id="destination-title">Destination</h2>
      {d.kind === 'default' ? (
        <p>
          <strong>Default.</strong> Messages go to the deployment's own channel.
          {d.updatedAt ? '' : ' This app never set a destination of its own.'}
        </p>
      ) : (
        <dl class="facts">
          <dt>Webhook</dt>
          <dd>
            <code>{d.url}</code>
          </dd>
          <dt>Batch size</dt>
          <dd>{formatNumber(d.batchSize)} recipients a request</dd>
          <dt>Rate</dt>
          <dd>
            {d.ratePerSecond === null
              ? 'no limit of its own'
              : `${formatNumber(d.ratePerSecond)} recipients a second`}
          </dd>
          <dt>Signing secret</dt>
          <dd>
            {d.secretHint ? (
              <>
                <code>whsec_…{d.secretHint}</code>{' '}
                <span class="muted small">(its last {d.secretHint.length} characters)</span>
              </>
            ) : (
              '—'
            )}
          </dd>
        </dl>
      )}
      {d.updatedAt && <p class="muted small">Changed {formatTime(d.updatedAt)}</p>}
    </section>
  );
}

function WebhookForm(props: {
  session: Session;
  destination: Destination;
  onChanged: (destination: Destination) => void;
}) {
  const d = props.destination;
  const [url, setUrl] = useState(d.url ?? '');
  const [batchSize, setBatchSize] = useState(String(d.batchSize ?? MAX_BATCH_SIZE));
  const [rate, setRate] = useState(d.ratePerSecond === null ? '' : String(d.ratePerSecond));
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setBusy(true);
    try {
      const next = await putDestination(props.session, {
        kind: 'webhook',
        url: url.trim(),
        ...(batchSize.trim() ? { batchSize: Number(batchSize) } : {}),
        ratePerSecond: rate.trim() ? Number(rate) : null,
      });
      props.onChanged(next);
    } catch (err) {
      setError(`Could not save the webhook: ${messageOf(err)}`);
    } finally {
      setBusy(false);
    }
  };

  const backToDefault = async () => {
    if (
      !confirm(
        `Send this app's messages to the deployment's default channel instead of ${d.url}? The signing secret is kept for a later webhook.`,
      )
    )
      return;
    setError(undefined);
    setBusy(true);
    try {
      props.onChanged(await putDestination(props.session, { kind: 'default' }));
    } catch (err) {
      setError(`Could not go back to the default: ${messageOf(err)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card stack" onSubmit={save} aria-labelledby="webhook-title">
      <h2 id="webhook-title">{d.kind === 'webhook' ? 'Change the webhook' : 'Send to a webhook'}</h2>
      <p class="muted small">
        Messages are POSTed to this URL in batches, signed with the app's own secret (Standard Webhooks). It
        must be <code>https://</code>.
      </p>
      <label>
        Webhook URL
        <input
          type="url"
          value={url}
          onInput={(e) => setUrl(e.currentTarget.value)}
          placeholder="https://hooks.example.com/campaigns"
          required
        />
      </label>
      <label>
        <span>
          Batch size <span class="muted">(recipients a request, 1-{MAX_BATCH_SIZE})</span>
        </span>
        <input
          type="number"
          min={1}
          max={MAX_BATCH_SIZE}
          step={1}
          value={batchSize}
          onInput={(e) => setBatchSize(e.currentTarget.value)}
        />
      </label>
      <label>
        <span>
          Rate <span class="muted">(recipients a second, empty for none)</span>
        </span>
        <input
          type="number"
          min={1}
          max={MAX_RATE_PER_SECOND}
          step="any"
          value={rate}
          onInput={(e) => setRate(e.currentTarget.value)}
          placeholder="no limit"
          aria-describedby="rate-help"
        />
      </label>
      <p id="rate-help" class="muted small">
        Messages a second: deliveries to the webhook never go faster, however many consumers run.
      </p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="row wrap">
        <button type="submit" class="primary" disabled={busy}>
          Save webhook
        </button>
        {d.kind === 'webhook' && (
          <button type="button" disabled={busy} onClick={() => void backToDefault()}>
            Use the default instead
          </button>
        )}
      </div>
    </form>
  );
}

function TestSend(props: { session: Session }) {
  const [result, setResult] = useState<DestinationTest | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const send = async () => {
    setError(undefined);
    setResult(undefined);
    setBusy(true);
    try {
      setResult(await testDestination(props.session));
    } catch (err) {
      setError(`Could not send the test event: ${messageOf(err)}`);
    } finally {
      setBusy(false);
    }
  };

  const latency = result ? `${formatNumber(Math.round(result.latencyMs))} ms` : '';
  return (
    <section class="card stack" aria-labelledby="test-title">
      <h2 id="test-title">Test</h2>
      <p class="muted small">Sends one signed event of type test to the webhook and shows its answer.</p>
      <div class="row">
        <button type="button" disabled={busy} onClick={() => void send()}>
          {busy ? 'Sending…' : 'Send test'}
        </button>
      </div>
      <div aria-live="polite">
        {result?.ok && (
          <p class="success" role="status">
            Test event delivered: the webhook answered HTTP {result.status} in {latency}.
          </p>
        )}
        {result && !result.ok && (
          <p class="error" role="alert">
            Test event failed:{' '}
            {result.status === null
              ? `no answer after ${latency}`
              : `the webhook answered HTTP ${result.status} in ${latency}`}
            {result.error ? ` (${result.error})` : ''}.
          </p>
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

function RotateSecret(props: {
  session: Session;
  destination: Destination;
  onRotated: (secret: string) => void;
}) {
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const rotate = async () => {
    if (
      !confirm(
        'Rotate the signing secret? The new one is shown once; the current one keeps signing deliveries for 24 hours too.',
      )
    )
      return;
    setError(undefined);
    setBusy(true);
    try {
      props.onRotated((await rotateSigningSecret(props.session)).signingSecret);
    } catch (err) {
      setError(`Could not rotate the secret: ${messageOf(err)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card stack" aria-labelledby="rotate-title">
      <h2 id="rotate-title">Rotation</h2>
      <p class="muted small">
        A new secret replaces <code>whsec_…{props.destination.secretHint ?? ''}</code>. For 24 hours every
        delivery carries both signatures, so the receiver can switch without missing one.
      </p>
      <div class="row">
        <button type="button" class="danger" disabled={busy} onClick={() => void rotate()}>
          Rotate secret
        </button>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

/** The one showing of a signing secret, with a copy button. */
function SecretBox(props: { secret: ShownSecret; onDismiss: () => void }) {
  const box = useRef<HTMLElement>(null);
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<string | undefined>();

  // It appears at the top of the page, maybe far from the button that brought it.
  useEffect(() => {
    box.current?.scrollIntoView?.({ block: 'nearest' });
  }, []);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.secret.value);
      setCopied('Copied to the clipboard.');
    } catch {
      // No clipboard access (an insecure origin, a denied permission): select it for Ctrl+C.
      input.current?.select();
      setCopied('Selected: press Ctrl+C (⌘C) to copy it.');
    }
  };

  return (
    <section ref={box} class="secret-box stack" aria-labelledby="secret-title">
      <h2 id="secret-title">{props.secret.rotated ? 'New signing secret' : 'Signing secret'}</h2>
      <p>
        <strong>Copy it now: it will not be shown again.</strong> Later this page shows only its last 4
        characters.
        {props.secret.rotated ? ' The previous secret keeps signing deliveries for 24 hours.' : ''}
      </p>
      <div class="row">
        <input
          ref={input}
          class="secret"
          readOnly
          value={props.secret.value}
          aria-label="Signing secret"
          onFocus={(e) => e.currentTarget.select()}
        />
        <button type="button" onClick={() => void copy()}>
          Copy
        </button>
      </div>
      {copied && (
        <p class="small" role="status">
          {copied}
        </p>
      )}
      <p class="muted small">
        Verify each delivery with it: deliveries are signed to the Standard Webhooks specification (headers{' '}
        <code>webhook-id</code>, <code>webhook-timestamp</code>, <code>webhook-signature</code>
        ), e.g. with the <code>standardwebhooks</code> package:{' '}
        <code>new Webhook(secret).verify(rawBody, headers)</code>.
      </p>
      <div class="row">
        <button type="button" onClick={props.onDismiss}>
          I have stored it
        </button>
      </div>
    </section>
  );
}
