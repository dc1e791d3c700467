/** Calls: the live ones (kept current over Server-Sent Events, no reload) and the recent ones. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type Page } from '../api';
import { openCallFeed, type FeedState } from '../live';
import { href } from '../router';
import type { CallSummary } from '../types';
import { ErrorBox, PageTitle, duration, time } from '../ui';

const isLive = (c: CallSummary) => c.endedAt === null && ['queued', 'ringing', 'in_progress'].includes(c.status);

export function Calls() {
  const [calls, setCalls] = useState<Map<string, CallSummary>>(new Map());
  const [state, setState] = useState<FeedState>('connecting');
  const [error, setError] = useState<unknown>(null);
  const pending = useRef(new Map<string, ReturnType<typeof setTimeout>>());
  useEffect(() => {
    let live = true;
    const upsert = (c: CallSummary) => live && setCalls((m) => new Map(m).set(c.id, c));
    const loadList = () =>
      api<Page<CallSummary>>('GET', '/api/v1/calls?limit=50').then(
        (p) => live && (setCalls(new Map(p.items.map((c) => [c.id, c]))), setError(null)),
        (e: unknown) => live && setError(e),
      );
    // A call's events come in bursts (started, answered): one fetch per call per burst.
    const refetch = (id: string) => {
      clearTimeout(pending.current.get(id));
      pending.current.set(
        id,
        setTimeout(() => {
          pending.current.delete(id);
          api<CallSummary>('GET', `/api/v1/calls/${encodeURIComponent(id)}`).then(upsert, (e: unknown) => live && setError(e));
        }, 150),
      );
    };
    const close = openCallFeed(
      (e) => e.callId && refetch(e.callId),
      (s) => {
        setState(s);
        // The list is read once the stream is open, so no call falls between the two.
        if (s === 'live') void loadList();
      },
    );
    return () => {
      live = false;
      close();
      for (const t of pending.current.values()) clearTimeout(t);
    };
  }, []);
  const all = [...calls.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  const liveCalls = all.filter(isLive);
  const recent = all.filter((c) => !isLive(c));
  return (
    <section>
      <PageTitle>Calls</PageTitle>
      <p class="muted" role="status" data-feed={state}>
        {state === 'live' ? '● Live updates on' : state === 'connecting' ? 'Connecting to live updates…' : 'Live updates interrupted; reconnecting…'}
      </p>
      <ErrorBox error={error} />
      <h2 id="live-calls">Live calls ({liveCalls.length})</h2>
      <div aria-labelledby="live-calls" aria-live="polite" data-testid="live-calls">
        {liveCalls.length === 0 ? <p class="muted">No call in progress.</p> : <CallTable calls={liveCalls} caption="Live calls" />}
      </div>
      <h2 id="recent-calls">Recent calls</h2>
      <div aria-labelledby="recent-calls" data-testid="recent-calls">
        {recent.length === 0 ? <p class="muted">No calls yet.</p> : <CallTable calls={recent} caption="Recent calls" />}
      </div>
    </section>
  );
}

function CallTable({ calls, caption }: { calls: CallSummary[]; caption: string }) {
  return (
    <div class="table-wrap">
      <table>
        <caption class="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Started</th>
            <th scope="col">Direction</th>
            <th scope="col">From</th>
            <th scope="col">To</th>
            <th scope="col">Status</th>
            <th scope="col">Duration</th>
            <th scope="col">End reason</th>
          </tr>
        </thead>
        <tbody>
          {calls.map((c) => (
            <tr key={c.id} data-call-id={c.id}>
              <td>
                <a href={href(`calls/${c.id}`)}>{time(c.startedAt)}</a>
              </td>
              <td>{c.direction}</td>
              <td>{c.from ?? '—'}</td>
              <td>{c.to ?? '—'}</td>
              <td>{c.status}</td>
              <td>{duration(c.durationMs)}</td>
              <td>{c.endReason ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
