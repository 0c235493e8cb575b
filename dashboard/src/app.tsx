/** The dashboard's shell: sign-in, the signed-in header, and hash routing between the list, a campaign and settings. */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, type Session } from './api.ts';
import { CampaignView } from './campaign-view.tsx';
import { CampaignList } from './campaigns.tsx';
import { type DashboardConfig, loadConfig, loadSession, saveSession } from './session.ts';
import { Settings } from './settings.tsx';

function useHashRoute(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const onChange = () => setHash(location.hash);
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return hash;
}

export function App() {
  const [config, setConfig] = useState<DashboardConfig | undefined>();
  const [session, setSession] = useState<Session | undefined>(loadSession);
  const hash = useHashRoute();

  useEffect(() => {
    void loadConfig().then(setConfig);
  }, []);

  const signOut = () => {
    saveSession(undefined);
    setSession(undefined);
  };

  if (!session) {
    return (
      <main class="page narrow">
        <h1>Campaigns</h1>
        {config ? (
          <SignIn
            config={config}
            onSignedIn={(s) => {
              saveSession(s);
              setSession(s);
            }}
          />
        ) : (
          <p aria-live="polite">Loading…</p>
        )}
      </main>
    );
  }

  const campaignId = /^#\/campaigns\/([^/]+)$/.exec(hash)?.[1];
  const settings = hash === '#/settings';
  return (
    <>
      <header class="topbar">
        <a class="brand" href="#/">
          Campaigns
        </a>
        <nav class="nav" aria-label="Main">
          <a href="#/" aria-current={!settings ? 'page' : undefined}>
            Campaigns
          </a>
          <a href="#/settings" aria-current={settings ? 'page' : undefined}>
            Settings
          </a>
        </nav>
        <span class="who">
          Signed in as <strong>{session.appId}</strong>
        </span>
        <button type="button" class="link" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main class="page">
        {settings ? (
          <Settings session={session} />
        ) : campaignId ? (
          <CampaignView
            key={campaignId}
            session={session}
            config={config}
            campaignId={decodeURIComponent(campaignId)}
          />
        ) : (
          <CampaignList session={session} />
        )}
      </main>
    </>
  );
}

function SignIn(props: { config: DashboardConfig; onSignedIn: (session: Session) => void }) {
  const { config } = props;
  const [apiUrl, setApiUrl] = useState(config.apiUrl ?? `${location.origin}/api`);
  const [appId, setAppId] = useState(config.appId ?? '');
  const [apiKey, setApiKey] = useState(config.apiKey ?? '');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    const session = { apiUrl: apiUrl.trim().replace(/\/+$/, ''), appId: appId.trim(), apiKey: apiKey.trim() };
    setBusy(true);
    try {
      // Any authenticated call proves the key; the list is the page the operator lands on.
      await call(session, 'GET', '/campaigns?limit=1');
      props.onSignedIn(session);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        setError(
          `Sign-in failed: the API did not accept app id '${session.appId}' with this API key. Check both and try again. (${err.message})`,
        );
      } else {
        setError(`Sign-in failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card stack" onSubmit={submit} aria-labelledby="sign-in-title">
      <h2 id="sign-in-title">Sign in</h2>
      <p class="muted">
        Use your app's id and API key. They are kept in this browser tab only (session storage).
      </p>
      <label>
        App id
        <input
          value={appId}
          onInput={(e) => setAppId(e.currentTarget.value)}
          required
          autoComplete="username"
        />
      </label>
      <label>
        API key
        <input
          type="password"
          value={apiKey}
          onInput={(e) => setApiKey(e.currentTarget.value)}
          required
          autoComplete="current-password"
        />
      </label>
      <label>
        API URL
        <input type="url" value={apiUrl} onInput={(e) => setApiUrl(e.currentTarget.value)} required />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" class="primary" disabled={busy}>
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}
