/** The campaign list, and the forms that start from nothing: a template, then a campaign. */
import { useCallback, useEffect, useState } from 'preact/hooks';
import {
  approveTemplate,
  type Campaign,
  createCampaign,
  createTemplate,
  listCampaigns,
  listTemplates,
  type Session,
  type Template,
  type VariableSpec,
} from './api.ts';
import { formatNumber, formatTime, messageOf, StatusBadge } from './format.tsx';

export function CampaignList(props: { session: Session }) {
  const { session } = props;
  const [campaigns, setCampaigns] = useState<Campaign[] | undefined>();
  const [next, setNext] = useState<string | null>(null);
  const [templates, setTemplates] = useState<Template[]>([]);
  const [error, setError] = useState<string | undefined>();

  const refresh = useCallback(async () => {
    setError(undefined);
    try {
      const [page, all] = await Promise.all([listCampaigns(session), listTemplates(session)]);
      setCampaigns(page.data);
      setNext(page.meta.next);
      setTemplates(all);
    } catch (err) {
      setError(messageOf(err));
    }
  }, [session]);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  const more = async () => {
    if (!next) return;
    try {
      const page = await listCampaigns(session, next);
      setCampaigns((c) => [...(c ?? []), ...page.data]);
      setNext(page.meta.next);
    } catch (err) {
      setError(messageOf(err));
    }
  };

  const approved = templates.filter((t) => t.status === 'approved');
  return (
    <div class="stack-lg">
      <section aria-labelledby="campaigns-title" class="stack">
        <div class="row spread">
          <h1 id="campaigns-title">Campaigns</h1>
          <button type="button" onClick={() => void refresh()}>
            Refresh
          </button>
        </div>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {campaigns === undefined ? (
          <p aria-live="polite">Loading…</p>
        ) : campaigns.length === 0 ? (
          <p class="muted">No campaigns yet. Create one below.</p>
        ) : (
          <table class="table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Recipients
                </th>
                <th scope="col" class="num">
                  Sent
                </th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {campaigns.map((c) => (
                <tr key={c.id}>
                  <td>
                    <a href={`#/campaigns/${encodeURIComponent(c.id)}`}>{c.name}</a>
                  </td>
                  <td>
                    <StatusBadge status={c.status} />
                  </td>
                  <td class="num">{formatNumber(c.recipientCount)}</td>
                  <td class="num">{formatNumber(c.counts.sent)}</td>
                  <td>{formatTime(c.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {next && (
          <button type="button" onClick={() => void more()}>
            Load more
          </button>
        )}
      </section>

      <div class="grid-2">
        <NewCampaign session={session} templates={approved} />
        <NewTemplate session={session} onCreated={(t) => setTemplates((all) => [t, ...all])} />
      </div>
    </div>
  );
}

function NewCampaign(props: { session: Session; templates: Template[] }) {
  const [name, setName] = useState('');
  const [templateId, setTemplateId] = useState('');
  const [tag, setTag] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const chosen = templateId || props.templates[0]?.id || '';

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setBusy(true);
    try {
      const campaign = await createCampaign(props.session, {
        name: name.trim(),
        templateId: chosen,
        ...(tag.trim() ? { tag: tag.trim() } : {}),
      });
      location.hash = `#/campaigns/${encodeURIComponent(campaign.id)}`;
    } catch (err) {
      setError(`Could not create the campaign: ${messageOf(err)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card stack" onSubmit={submit} aria-labelledby="new-campaign-title">
      <h2 id="new-campaign-title">New campaign</h2>
      <label>
        Campaign name
        <input value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      </label>
      <div class="field">
        <label for="campaign-template">Template</label>
        <select
          id="campaign-template"
          value={chosen}
          onChange={(e) => setTemplateId(e.currentTarget.value)}
          disabled={props.templates.length === 0}
          required
        >
          {props.templates.map((t) => (
            <option key={t.id} value={t.id}>
              {t.name} ({Object.keys(t.variableSchema).join(', ') || 'no variables'})
            </option>
          ))}
        </select>
      </div>
      {props.templates.length === 0 && (
        <p class="muted">No approved template yet: create one in “New template”.</p>
      )}
      <label>
        <span>
          Tag <span class="muted">(optional)</span>
        </span>
        <input value={tag} onInput={(e) => setTag(e.currentTarget.value)} />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" class="primary" disabled={busy || props.templates.length === 0}>
        Create campaign
      </button>
    </form>
  );
}

/**
 * `name, discount:number, vip:boolean, code!` → a variable schema: the type after a
 * colon (text by default), `!` for required.
 */
export function parseVariables(text: string): Record<string, VariableSpec> {
  const schema: Record<string, VariableSpec> = {};
  for (const raw of text.split(/[,\n]/)) {
    const entry = raw.trim();
    if (!entry) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*(string|text|number|boolean))?\s*(!)?$/.exec(entry);
    if (!match?.[1]) {
      throw new Error(
        `'${entry}' is not a variable: write a name of letters, digits and _, optionally followed by :number or :boolean, and ! when required.`,
      );
    }
    const type = match[2] === 'number' || match[2] === 'boolean' ? match[2] : 'string';
    schema[match[1]] = match[3] ? { type, required: true } : { type };
  }
  return schema;
}

function NewTemplate(props: { session: Session; onCreated: (template: Template) => void }) {
  const [name, setName] = useState('');
  const [variables, setVariables] = useState('');
  const [body, setBody] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [done, setDone] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setDone(undefined);
    let schema: Record<string, VariableSpec>;
    try {
      schema = parseVariables(variables);
    } catch (err) {
      setError(messageOf(err));
      return;
    }
    const text =
      body.trim() ||
      Object.keys(schema)
        .map((k) => `{{${k}}}`)
        .join(' ') ||
      name.trim();
    setBusy(true);
    try {
      const draft = await createTemplate(props.session, {
        name: name.trim(),
        body: text,
        variableSchema: schema,
      });
      const approved = await approveTemplate(props.session, draft.id);
      props.onCreated(approved);
      setDone(`Template “${approved.name}” is approved: pick it in “New campaign”.`);
      setName('');
      setVariables('');
      setBody('');
    } catch (err) {
      setError(`Could not create the template: ${messageOf(err)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card stack" onSubmit={submit} aria-labelledby="new-template-title">
      <h2 id="new-template-title">New template</h2>
      <label>
        Template name
        <input value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      </label>
      <label>
        Variables
        <input
          value={variables}
          onInput={(e) => setVariables(e.currentTarget.value)}
          placeholder="name!, discount:number, vip:boolean"
          aria-describedby="variables-help"
        />
      </label>
      <p id="variables-help" class="muted small">
        Comma-separated CSV column names besides <code>user_id</code>. Add <code>:number</code> or{' '}
        <code>:boolean</code> for non-text values and <code>!</code> for required ones.
      </p>
      <label>
        Message
        <textarea
          rows={3}
          value={body}
          onInput={(e) => setBody(e.currentTarget.value)}
          placeholder="Hi {{name}}, here is {{discount}}% off."
        />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {done && (
        <p class="success" role="status">
          {done}
        </p>
      )}
      <button type="submit" class="primary" disabled={busy}>
        Create and approve template
      </button>
    </form>
  );
}
