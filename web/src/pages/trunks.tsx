/** SIP trunks: list, create, edit (inbound allowlist and credentials, outbound gateway, caps). */
import { useState } from 'preact/hooks';
import { api, fieldErrors, type Page } from '../api';
import type { SipTrunk } from '../types';
import { EditableTable, ErrorBox, Field, Loading, PageTitle, useLoad } from '../ui';

export function Trunks() {
  const [data, error, reload] = useLoad(() => api<Page<SipTrunk>>('GET', '/api/v1/sip-trunks?limit=100'));
  const [editing, setEditing] = useState<SipTrunk | 'new' | null>(null);
  return (
    <section>
      <PageTitle>SIP trunks</PageTitle>
      <ErrorBox error={error} />
      {!data && !error && <Loading what="trunks" />}
      {data && (
        <>
          <p>
            <button type="button" onClick={() => setEditing('new')}>
              New trunk
            </button>
          </p>
          {editing && <TrunkForm key={editing === 'new' ? 'new' : editing.id} trunk={editing === 'new' ? null : editing} done={() => (setEditing(null), reload())} cancel={() => setEditing(null)} />}
          <EditableTable
            caption="SIP trunks"
            empty="No trunks yet."
            rows={data.items}
            label={(t) => t.name}
            edit={setEditing}
            columns={[
              { head: 'Name', cell: (t) => t.name },
              { head: 'Inbound from', cell: (t) => `${t.inbound.allowlist.join(', ') || '—'}${t.inbound.username ? ` (digest: ${t.inbound.username})` : ''}` },
              { head: 'Outbound gateway', cell: (t) => (t.outbound ? `${t.outbound.transport}:${t.outbound.host}:${t.outbound.port}` : '—') },
              { head: 'Caps', cell: (t) => `${t.cpsLimit ? `${t.cpsLimit} cps` : ''} ${t.maxConcurrentCalls ? `${t.maxConcurrentCalls} calls` : ''}` },
            ]}
          />
        </>
      )}
    </section>
  );
}

function TrunkForm(props: { trunk: SipTrunk | null; done: () => void; cancel: () => void }) {
  const t = props.trunk;
  const [f, setF] = useState({
    name: t?.name ?? '',
    allowlist: t?.inbound.allowlist.join(', ') ?? '',
    inUser: t?.inbound.username ?? '',
    inPassword: '',
    outHost: t?.outbound?.host ?? '',
    outPort: t?.outbound ? String(t.outbound.port) : '',
    outTransport: t?.outbound?.transport ?? 'udp',
    outUser: t?.outbound?.username ?? '',
    outPassword: '',
    callerId: t?.callerId ?? '',
    cpsLimit: t?.cpsLimit ? String(t.cpsLimit) : '',
    maxConcurrentCalls: t?.maxConcurrentCalls ? String(t.maxConcurrentCalls) : '',
  });
  const [error, setError] = useState<unknown>(null);
  const errs = fieldErrors(error);
  type K = keyof typeof f;
  const num = (s: string) => (s.trim() === '' ? null : Number(s));
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    // Passwords are write-only: left empty, they are left out (the stored one is kept).
    const inbound: Record<string, unknown> = {
      allowlist: f.allowlist.split(/[\s,]+/).filter(Boolean),
      username: f.inUser.trim() || null,
    };
    if (f.inPassword) inbound['password'] = f.inPassword;
    else if (!f.inUser.trim()) inbound['password'] = null;
    let outbound: Record<string, unknown> | null = null;
    if (f.outHost.trim()) {
      outbound = { host: f.outHost.trim(), transport: f.outTransport, username: f.outUser.trim() || null };
      if (f.outPort.trim()) outbound['port'] = num(f.outPort);
      if (f.outPassword) outbound['password'] = f.outPassword;
      else if (!f.outUser.trim()) outbound['password'] = null;
    }
    const body = { name: f.name, inbound, outbound, callerId: f.callerId.trim() || null, cpsLimit: num(f.cpsLimit), maxConcurrentCalls: num(f.maxConcurrentCalls) };
    try {
      if (t) await api('PATCH', `/api/v1/sip-trunks/${t.id}`, body);
      else await api('POST', '/api/v1/sip-trunks', body);
      props.done();
    } catch (err) {
      setError(err);
    }
  };
  const input = (k: K, label: string, field: string, opts: { type?: 'text' | 'number' | 'password'; hint?: string; autoComplete?: string } = {}) => (
    <Field label={label} error={errs[field]} hint={opts.hint}>
      {(id, d) => (
        <input
          id={id}
          name={field}
          type={(opts.type ?? 'text') as 'text'}
          autoComplete={opts.autoComplete ?? 'off'}
          aria-describedby={d}
          aria-invalid={errs[field] ? 'true' : undefined}
          value={f[k]}
          onInput={(e) => setF({ ...f, [k]: e.currentTarget.value })}
        />
      )}
    </Field>
  );
  return (
    <form class="panel" onSubmit={submit} aria-label={t ? `Edit ${t.name}` : 'New trunk'} noValidate>
      <h2>{t ? `Edit ${t.name}` : 'New trunk'}</h2>
      {input('name', 'Name', 'name')}
      <fieldset>
        <legend>Inbound (calls from the carrier)</legend>
        {input('allowlist', 'Allowed addresses', 'inbound.allowlist', { hint: 'IP addresses or CIDR blocks, comma-separated' })}
        {input('inUser', 'Digest username', 'inbound.username')}
        {input('inPassword', 'Digest password', 'inbound.password', {
          type: 'password',
          autoComplete: 'new-password',
          hint: t?.inbound.hasPassword ? 'Set; leave empty to keep it' : 'At least 8 characters',
        })}
      </fieldset>
      <fieldset>
        <legend>Outbound gateway (calls we place)</legend>
        {input('outHost', 'Gateway host', 'outbound.host', { hint: 'Empty: no outbound side' })}
        {input('outPort', 'Port', 'outbound.port', { type: 'number', hint: 'default 5060' })}
        <Field label="Transport" error={errs['outbound.transport']}>
          {(id) => (
            <select id={id} name="outbound.transport" value={f.outTransport} onChange={(e) => setF({ ...f, outTransport: e.currentTarget.value as 'udp' })}>
              <option value="udp">udp</option>
              <option value="tcp">tcp</option>
              <option value="tls">tls</option>
            </select>
          )}
        </Field>
        {input('outUser', 'Username', 'outbound.username')}
        {input('outPassword', 'Password', 'outbound.password', {
          type: 'password',
          autoComplete: 'new-password',
          hint: t?.outbound?.hasPassword ? 'Set; leave empty to keep it' : 'At least 8 characters',
        })}
      </fieldset>
      {input('callerId', 'Caller id', 'callerId')}
      {input('cpsLimit', 'Calls per second (outbound)', 'cpsLimit', { type: 'number' })}
      {input('maxConcurrentCalls', 'Concurrent calls (outbound)', 'maxConcurrentCalls', { type: 'number' })}
      {Object.entries(errs)
        .filter(([k]) => k.startsWith('inbound.allowlist['))
        .map(([k, m]) => (
          <p key={k} class="field-error">
            {k}: {m}
          </p>
        ))}
      <ErrorBox error={error} />
      <div class="row">
        <button type="submit">{t ? 'Save' : 'Create trunk'}</button>
        <button type="button" class="secondary" onClick={props.cancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
