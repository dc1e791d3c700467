/** One call: its facts, its timeline (events), its transcript and its recording when there is one. */
import { useEffect, useState } from 'preact/hooks';
import { api, blobUrl, type Page } from '../api';
import { href } from '../router';
import type { Call, CallEvent } from '../types';
import { ErrorBox, Loading, PageTitle, duration, time, useLoad } from '../ui';

export function CallDetail({ id }: { id: string }) {
  const [data, error] = useLoad(async () => {
    const enc = encodeURIComponent(id);
    const [call, events] = await Promise.all([api<Call>('GET', `/api/v1/calls/${enc}`), api<Page<CallEvent>>('GET', `/api/v1/calls/${enc}/events?limit=100`)]);
    return { call, events: events.items };
  }, [id]);
  return (
    <section>
      <PageTitle>Call</PageTitle>
      <p>
        <a href={href('calls')}>← All calls</a>
      </p>
      <ErrorBox error={error} />
      {!data && !error && <Loading what="the call" />}
      {data && <CallView call={data.call} events={data.events} />}
    </section>
  );
}

function CallView({ call, events }: { call: Call; events: CallEvent[] }) {
  const facts: [string, string][] = [
    ['Direction', call.direction],
    ['From', call.from ?? '—'],
    ['To', call.to ?? '—'],
    ['Status', call.status],
    ['Started', time(call.startedAt)],
    ['Answered', time(call.answeredAt)],
    ['Ended', time(call.endedAt)],
    ['Duration', duration(call.durationMs)],
    ['End reason', call.endReason ?? '—'],
    ['Hung up by', call.hangupBy ?? '—'],
    ['SIP code', call.sipCode === null ? '—' : String(call.sipCode)],
  ];
  return (
    <>
      <dl class="facts">
        {facts.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      <h2>Timeline</h2>
      {events.length === 0 ? (
        <p class="muted">No events.</p>
      ) : (
        <ol class="timeline" aria-label="Timeline">
          {events.map((e) => (
            <li key={e.id}>
              <time dateTime={e.createdAt}>{new Date(e.createdAt).toLocaleTimeString()}</time> <strong>{e.type}</strong> <span class="muted">{summary(e)}</span>
            </li>
          ))}
        </ol>
      )}
      <h2>Transcript</h2>
      {call.transcript.length === 0 ? (
        <p class="muted">No transcript.</p>
      ) : (
        <ol class="transcript" aria-label="Transcript">
          {call.transcript.map((t, i) => (
            <li key={i}>
              {t.at && <time dateTime={t.at}>{new Date(t.at).toLocaleTimeString()} </time>}
              <strong>{t.role ?? ''}</strong> {t.text ?? ''}
            </li>
          ))}
        </ol>
      )}
      <h2>Recording</h2>
      {call.recording ? <Recording call={call} /> : <p class="muted">Not recorded.</p>}
    </>
  );
}

/** A few words from an event's data (reason, text, digits). */
function summary(e: CallEvent): string {
  const d = e.data ?? {};
  const pick = ['endReason', 'reason', 'text', 'digit', 'digits', 'tool', 'name', 'error', 'message', 'target'].filter((k) => d[k] !== undefined && d[k] !== null);
  return pick.map((k) => `${k}: ${typeof d[k] === 'string' ? d[k] : JSON.stringify(d[k])}`).join(', ').slice(0, 300);
}

function Recording({ call }: { call: Call }) {
  const r = call.recording!;
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => () => void (url && URL.revokeObjectURL(url)), [url]);
  if (r.status !== 'complete' && r.status !== 'stopped' && r.status !== 'interrupted') {
    return <p class="muted">Recording {r.status}{r.error ? `: ${r.error}` : ''}.</p>;
  }
  return (
    <div>
      <p class="muted">
        {duration(r.durationMs)}, {r.bytes ?? 0} bytes ({r.status})
      </p>
      {url ? (
        <audio controls src={url} aria-label="Call recording" />
      ) : (
        <button type="button" onClick={() => blobUrl(`/api/v1/calls/${call.id}/recording`).then(setUrl, setError)}>
          Load recording
        </button>
      )}
      <ErrorBox error={error} />
    </div>
  );
}
