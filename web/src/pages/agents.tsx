/** Agents: the list, and a form to create one or edit its prompt, voice, tools and workflow. */
import { useState } from 'preact/hooks';
import { api, fieldErrors, type Page } from '../api';
import { href, navigate } from '../router';
import type { Agent, AgentConfig, Named } from '../types';
import { ErrorBox, Field, Loading, PageTitle, time, useLoad } from '../ui';

export function AgentList() {
  const [page, error] = useLoad(() => api<Page<Agent>>('GET', '/api/v1/agents?limit=100'));
  return (
    <section>
      <PageTitle>Agents</PageTitle>
      <p>
        <a class="button" href={href('agents/new')}>
          New agent
        </a>
      </p>
      <ErrorBox error={error} />
      {!page && !error && <Loading what="agents" />}
      {page && page.items.length === 0 && <p>No agents yet.</p>}
      {page && page.items.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">Agents</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Runs</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((a) => (
                <tr key={a.id}>
                  <td>
                    <a href={href(`agents/${a.id}`)}>{a.name}</a>
                  </td>
                  <td>{a.status}</td>
                  <td>{runs(a.config)}</td>
                  <td>{time(a.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function runs(c: AgentConfig): string {
  if (c.kind === 'websocket') return 'your WebSocket program';
  if (c.workflowId) return 'a workflow';
  if (c.llm) return `LLM ${c.llm.model}`;
  if (c.firstMessage) return 'a greeting';
  return 'echo (media check)';
}

/** The form's text fields; empty means "not set". */
interface Form {
  name: string;
  description: string;
  status: 'active' | 'inactive';
  system: string;
  firstMessage: string;
  language: string;
  voiceProvider: string;
  voiceId: string;
  sttProvider: string;
  sttModel: string;
  llmProvider: string;
  llmModel: string;
  temperature: string;
  toolIds: string[];
  workflowId: string;
  bargeIn: boolean;
  recording: boolean;
  kind: 'builtin' | 'websocket';
  wsUrl: string;
  wsAudio: 'pcmu' | 'l16';
}

function formOf(a: Agent | null): Form {
  const c = a?.config;
  return {
    name: a?.name ?? '',
    description: a?.description ?? '',
    status: a?.status ?? 'active',
    system: c?.prompt.system ?? '',
    firstMessage: c?.firstMessage ?? '',
    language: c?.language ?? '',
    voiceProvider: c?.voice?.provider ?? '',
    voiceId: c?.voice?.voiceId ?? '',
    sttProvider: c?.transcriber?.provider ?? '',
    sttModel: c?.transcriber?.model ?? '',
    llmProvider: c?.llm?.provider ?? '',
    llmModel: c?.llm?.model ?? '',
    temperature: c?.llm?.temperature === undefined ? '' : String(c.llm.temperature),
    toolIds: c?.toolIds ?? [],
    workflowId: c?.workflowId ?? '',
    bargeIn: c?.bargeIn ?? true,
    recording: c?.recording ?? false,
    kind: c?.kind ?? 'builtin',
    wsUrl: c?.websocket?.url ?? '',
    wsAudio: c?.websocket?.audio ?? 'pcmu',
  };
}

/**
 * The request body. A section left empty is left out on create and cleared (`null`) on update,
 * as the API's PATCH reads null as "back to the default". Half-filled sections are sent as they
 * are, so the API's own validation names the missing field.
 */
function bodyOf(f: Form, was: Agent | null): Record<string, unknown> {
  const editing = was !== null;
  const none = editing ? null : undefined;
  const opt = (s: string) => (s.trim() === '' ? undefined : s.trim());
  if (f.kind === 'websocket') {
    // A websocket agent holds none of the built-in runtime's settings. Its socket is sent only when
    // it changed: the upgrade headers are write-only, and a given `websocket` replaces them all.
    const old = was?.config.kind === 'websocket' ? was.config.websocket : undefined;
    const changed = !old || old.url !== f.wsUrl.trim() || (old.audio ?? 'pcmu') !== f.wsAudio;
    const config: Record<string, unknown> = { prompt: { system: f.system }, kind: 'websocket', recording: f.recording };
    if (changed) config['websocket'] = { url: f.wsUrl.trim(), audio: f.wsAudio };
    return { name: f.name, description: opt(f.description) ?? null, status: f.status, config };
  }
  const section = (o: Record<string, unknown>) => (Object.values(o).some((v) => v !== undefined) ? o : none);
  const config: Record<string, unknown> = {
    prompt: { system: f.system },
    firstMessage: opt(f.firstMessage) ?? none,
    language: opt(f.language) ?? none,
    voice: section({ provider: opt(f.voiceProvider), voiceId: opt(f.voiceId) }),
    transcriber: section({ provider: opt(f.sttProvider), model: opt(f.sttModel) }),
    llm: section({ provider: opt(f.llmProvider), model: opt(f.llmModel), temperature: f.temperature.trim() === '' ? undefined : Number(f.temperature) }),
    toolIds: f.toolIds,
    workflowId: opt(f.workflowId) ?? none,
    bargeIn: f.bargeIn,
    recording: f.recording,
  };
  if (was?.config.kind === 'websocket') config['kind'] = 'builtin';
  for (const k of Object.keys(config)) if (config[k] === undefined) delete config[k];
  return { name: f.name, description: opt(f.description) ?? null, status: f.status, config };
}

export function AgentEditor({ id }: { id: string | null }) {
  const [loaded, loadError] = useLoad(
    async () => {
      const [agent, tools, workflows] = await Promise.all([
        id ? api<Agent>('GET', `/api/v1/agents/${encodeURIComponent(id)}`) : Promise.resolve(null),
        api<Page<Named>>('GET', '/api/v1/tools?limit=100'),
        api<Page<Named>>('GET', '/api/v1/workflows?limit=100'),
      ]);
      return { agent, tools: tools.items, workflows: workflows.items };
    },
    [id],
  );
  if (loadError) return (<section><PageTitle>Agent</PageTitle><ErrorBox error={loadError} /></section>);
  // Until the load for this id is in (a create moves from "new" to the agent's own page).
  if (!loaded || (loaded.agent?.id ?? null) !== id) return <Loading what="the agent" />;
  return <AgentForm key={id ?? 'new'} agent={loaded.agent} tools={loaded.tools} workflows={loaded.workflows} />;
}

function AgentForm({ agent, tools, workflows }: { agent: Agent | null; tools: Named[]; workflows: Named[] }) {
  const [f, setF] = useState<Form>(() => formOf(agent));
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const errs = fieldErrors(error);
  const set = <K extends keyof Form>(k: K, v: Form[K]) => (setF({ ...f, [k]: v }), setSaved(false));
  const text = (k: keyof Form, label: string, field: string, opts: { type?: 'text' | 'number'; hint?: string; required?: boolean } = {}) => (
    <Field label={label} error={errs[field]} hint={opts.hint}>
      {(fid, describedBy) => (
        <input
          id={fid}
          name={field}
          type={(opts.type ?? 'text') as 'text'}
          required={opts.required}
          aria-invalid={errs[field] ? 'true' : undefined}
          aria-describedby={describedBy}
          value={f[k] as string}
          onInput={(e) => set(k, e.currentTarget.value as never)}
        />
      )}
    </Field>
  );
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = bodyOf(f, agent);
      const out = agent ? await api<Agent>('PATCH', `/api/v1/agents/${agent.id}`, body) : await api<Agent>('POST', '/api/v1/agents', body);
      setSaved(true);
      if (!agent) navigate(`agents/${out.id}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const unplaced = Object.keys(errs).filter((k) => !/^(name|description|status|config\.(prompt\.system|kind|websocket|firstMessage|language|voice|transcriber|llm|toolIds|workflowId)\b)/.test(k));
  return (
    <section>
      <PageTitle>{agent ? `Agent: ${agent.name}` : 'New agent'}</PageTitle>
      <p>
        <a href={href('agents')}>← All agents</a>
      </p>
      <form onSubmit={submit} aria-label={agent ? 'Edit agent' : 'Create agent'} noValidate>
        {text('name', 'Name', 'name', { required: true })}
        {text('description', 'Description', 'description')}
        <Field label="Status" error={errs['status']}>
          {(fid) => (
            <select id={fid} name="status" value={f.status} onChange={(e) => set('status', e.currentTarget.value as Form['status'])}>
              <option value="active">active</option>
              <option value="inactive">inactive (calls refused)</option>
            </select>
          )}
        </Field>
        <Field label="Prompt (system)" error={errs['config.prompt.system'] ?? errs['config.prompt']}>
          {(fid, describedBy) => (
            <textarea
              id={fid}
              name="config.prompt.system"
              rows={6}
              aria-invalid={errs['config.prompt.system'] ? 'true' : undefined}
              aria-describedby={describedBy}
              value={f.system}
              onInput={(e) => set('system', e.currentTarget.value)}
            />
          )}
        </Field>
        <Field label="Runs" error={errs['config.kind']} hint="The built-in runtime (workflow, LLM, greeting), or your own program reached over a WebSocket">
          {(fid, d) => (
            <select id={fid} name="config.kind" aria-describedby={d} value={f.kind} onChange={(e) => set('kind', e.currentTarget.value as Form['kind'])}>
              <option value="builtin">built-in runtime</option>
              <option value="websocket">your WebSocket program</option>
            </select>
          )}
        </Field>
        {f.kind === 'websocket' ? (
          <fieldset>
            <legend>WebSocket agent</legend>
            {text('wsUrl', 'WebSocket URL', 'config.websocket.url', { hint: 'wss://… opened for each answered call' })}
            <Field label="Audio framing" error={errs['config.websocket.audio']}>
              {(fid) => (
                <select id={fid} name="config.websocket.audio" value={f.wsAudio} onChange={(e) => set('wsAudio', e.currentTarget.value as Form['wsAudio'])}>
                  <option value="pcmu">pcmu (G.711 μ-law)</option>
                  <option value="l16">l16 (16-bit PCM)</option>
                </select>
              )}
            </Field>
            {agent?.config.kind === 'websocket' && agent.config.websocket?.headers && (
              <p class="muted">{Object.keys(agent.config.websocket.headers).length} upgrade header(s) set: write-only, kept unless the URL or framing changes (then set them again through the API).</p>
            )}
            {errs['config.websocket'] && <small class="field-error">{errs['config.websocket']}</small>}
          </fieldset>
        ) : (
          <>
        {text('firstMessage', 'First message (greeting)', 'config.firstMessage', { hint: 'Said when the call is answered; empty: wait for the caller' })}
        {text('language', 'Language', 'config.language', { hint: 'e.g. en or en-US' })}
        <fieldset>
          <legend>Voice</legend>
          {text('voiceProvider', 'Voice provider', 'config.voice.provider', { hint: 'flite (built in), or one of your providers' })}
          {text('voiceId', 'Voice id', 'config.voice.voiceId')}
          {errs['config.voice'] && <small class="field-error">{errs['config.voice']}</small>}
        </fieldset>
        <fieldset>
          <legend>Transcriber</legend>
          {text('sttProvider', 'Transcriber provider', 'config.transcriber.provider')}
          {text('sttModel', 'Transcriber model', 'config.transcriber.model')}
        </fieldset>
        <fieldset>
          <legend>LLM</legend>
          {text('llmProvider', 'LLM provider', 'config.llm.provider')}
          {text('llmModel', 'LLM model', 'config.llm.model')}
          {text('temperature', 'Temperature', 'config.llm.temperature', { type: 'number', hint: '0–2; default 0.7' })}
          {errs['config.llm'] && <small class="field-error">{errs['config.llm']}</small>}
        </fieldset>
        <fieldset>
          <legend>Tools the LLM may call</legend>
          {tools.length === 0 && <p class="muted">No tools defined.</p>}
          {tools.map((t) => (
            <label key={t.id} class="check">
              <input
                type="checkbox"
                name="config.toolIds"
                value={t.id}
                checked={f.toolIds.includes(t.id)}
                onChange={(e) => set('toolIds', e.currentTarget.checked ? [...f.toolIds, t.id] : f.toolIds.filter((x) => x !== t.id))}
              />{' '}
              {t.name}
            </label>
          ))}
          {Object.entries(errs)
            .filter(([k]) => k.startsWith('config.toolIds'))
            .map(([k, m]) => (
              <small key={k} class="field-error">
                {m}
              </small>
            ))}
        </fieldset>
        <Field label="Workflow" error={errs['config.workflowId']}>
          {(fid) => (
            <select id={fid} name="config.workflowId" value={f.workflowId} onChange={(e) => set('workflowId', e.currentTarget.value)}>
              <option value="">none</option>
              {workflows.map((w) => (
                <option key={w.id} value={w.id}>
                  {w.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <label class="check">
          <input type="checkbox" name="config.bargeIn" checked={f.bargeIn} onChange={(e) => set('bargeIn', e.currentTarget.checked)} /> The caller may interrupt
          the agent
        </label>
          </>
        )}
        <label class="check">
          <input type="checkbox" name="config.recording" checked={f.recording} onChange={(e) => set('recording', e.currentTarget.checked)} /> Record calls
        </label>
        {unplaced.map((k) => (
          <p key={k} class="field-error">
            {k}: {errs[k]}
          </p>
        ))}
        <ErrorBox error={error} />
        {saved && (
          <p role="status" class="ok">
            Saved.
          </p>
        )}
        <button type="submit" disabled={busy}>
          {agent ? 'Save' : 'Create agent'}
        </button>
      </form>
    </section>
  );
}
