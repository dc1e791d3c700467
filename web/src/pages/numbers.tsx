/** Phone numbers: list, create, edit (number, name, agent or SIP user, trunk). */
import { useState } from 'preact/hooks';
import { api, fieldErrors, type Page } from '../api';
import type { Agent, PhoneNumber, SipTrunk, SipUser } from '../types';
import { EditableTable, ErrorBox, Field, Loading, PageTitle, useLoad } from '../ui';

export function Numbers() {
  const [data, error, reload] = useLoad(async () => {
    const [numbers, agents, trunks, users] = await Promise.all([
      api<Page<PhoneNumber>>('GET', '/api/v1/phone-numbers?limit=100'),
      api<Page<Agent>>('GET', '/api/v1/agents?limit=100'),
      api<Page<SipTrunk>>('GET', '/api/v1/sip-trunks?limit=100'),
      api<Page<SipUser>>('GET', '/api/v1/sip-users?limit=100'),
    ]);
    // A number rings an agent or a SIP user: users are listed by their username.
    const sipUsers = users.items.map((u) => ({ id: u.id, name: u.username }));
    return { numbers: numbers.items, agents: agents.items, trunks: trunks.items, sipUsers };
  });
  const [editing, setEditing] = useState<PhoneNumber | 'new' | null>(null);
  const name = (list: { id: string; name: string }[], id: string | null) => (id ? (list.find((x) => x.id === id)?.name ?? id) : '—');
  return (
    <section>
      <PageTitle>Phone numbers</PageTitle>
      <ErrorBox error={error} />
      {!data && !error && <Loading what="phone numbers" />}
      {data && (
        <>
          <p>
            <button type="button" onClick={() => setEditing('new')}>
              New phone number
            </button>
          </p>
          {editing && (
            <NumberForm
              key={editing === 'new' ? 'new' : editing.id}
              number={editing === 'new' ? null : editing}
              agents={data.agents}
              sipUsers={data.sipUsers}
              trunks={data.trunks}
              done={() => (setEditing(null), reload())}
              cancel={() => setEditing(null)}
            />
          )}
          <EditableTable
            caption="Phone numbers"
            empty="No phone numbers yet."
            rows={data.numbers}
            label={(n) => n.number}
            edit={setEditing}
            columns={[
              { head: 'Number', cell: (n) => n.number },
              { head: 'Name', cell: (n) => n.name ?? '—' },
              { head: 'Agent', cell: (n) => name(data.agents, n.agentId) },
              { head: 'SIP user', cell: (n) => name(data.sipUsers, n.sipUserId) },
              { head: 'Trunk', cell: (n) => name(data.trunks, n.trunkId) },
            ]}
          />
        </>
      )}
    </section>
  );
}

function NumberForm(props: { number: PhoneNumber | null; agents: Agent[]; sipUsers: { id: string; name: string }[]; trunks: SipTrunk[]; done: () => void; cancel: () => void }) {
  const n = props.number;
  const [f, setF] = useState({ number: n?.number ?? '', name: n?.name ?? '', agentId: n?.agentId ?? '', sipUserId: n?.sipUserId ?? '', trunkId: n?.trunkId ?? '' });
  const [error, setError] = useState<unknown>(null);
  const errs = fieldErrors(error);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const body = { number: f.number.trim(), name: f.name.trim() || null, agentId: f.agentId || null, sipUserId: f.sipUserId || null, trunkId: f.trunkId || null };
    try {
      if (n) await api('PATCH', `/api/v1/phone-numbers/${n.id}`, body);
      else await api('POST', '/api/v1/phone-numbers', body);
      props.done();
    } catch (err) {
      setError(err);
    }
  };
  const select = (k: 'agentId' | 'sipUserId' | 'trunkId', label: string, list: { id: string; name: string }[], hint?: string) => (
    <Field label={label} error={errs[k]} {...(hint ? { hint } : {})}>
      {(id, d) => (
        <select id={id} name={k} aria-describedby={d} value={f[k]} onChange={(e) => setF({ ...f, [k]: e.currentTarget.value })}>
          <option value="">none</option>
          {list.map((x) => (
            <option key={x.id} value={x.id}>
              {x.name}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
  return (
    <form class="panel" onSubmit={submit} aria-label={n ? `Edit ${n.number}` : 'New phone number'} noValidate>
      <h2>{n ? `Edit ${n.number}` : 'New phone number'}</h2>
      <Field label="Number" error={errs['number']} hint="E.164 (+15551234567) or a name such as support">
        {(id, d) => <input id={id} name="number" required aria-describedby={d} aria-invalid={errs['number'] ? 'true' : undefined} value={f.number} onInput={(e) => setF({ ...f, number: e.currentTarget.value })} />}
      </Field>
      <Field label="Label" error={errs['name']}>
        {(id) => <input id={id} name="name" value={f.name} onInput={(e) => setF({ ...f, name: e.currentTarget.value })} />}
      </Field>
      {select('agentId', 'Agent', props.agents)}
      {select('sipUserId', 'SIP user', props.sipUsers, 'Rings the user’s registered phones and browsers instead of an agent')}
      {select('trunkId', 'SIP trunk', props.trunks)}
      <ErrorBox error={error} />
      <div class="row">
        <button type="submit">{n ? 'Save' : 'Create number'}</button>
        <button type="button" class="secondary" onClick={props.cancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
