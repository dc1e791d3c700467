/** Analytics as inline SVG charts from `/api/v1/analytics/*`: calls per day, durations, end reasons, errors. */
import { useState } from 'preact/hooks';
import { api, type Page } from '../api';
import { BarChart, ColumnChart, type Bar } from '../charts';
import { ErrorBox, Loading, PageTitle, time, useLoad } from '../ui';

interface Stat {
  key: string | null;
  totalCalls: number;
  answeredCalls: number;
}

interface Metrics {
  totalCalls: number;
  answeredCalls: number;
  answerRate: number | null;
  durationMs: { count: number; average: number | null; p50: number | null; p95: number | null; max: number | null };
  peakConcurrency: number;
}

interface ErrorLog {
  id: number;
  kind: string;
  code: string | null;
  message: string;
  createdAt: string;
}

const dayMs = 86_400_000;
const isoDay = (t: number) => new Date(t).toISOString().slice(0, 10);

export function Analytics() {
  const [days, setDays] = useState(14);
  const [data, error] = useLoad(async () => {
    const from = isoDay(Date.now() - (days - 1) * dayMs);
    const [perDay, reasons, metrics, errors] = await Promise.all([
      api<Page<Stat>>('GET', `/api/v1/analytics/statistics?groupBy=day&from=${from}&limit=100`),
      api<Page<Stat>>('GET', `/api/v1/analytics/statistics?groupBy=end_reason&from=${from}&limit=100`),
      api<Metrics>('GET', `/api/v1/analytics/metrics?from=${from}`),
      api<Page<ErrorLog>>('GET', `/api/v1/analytics/errors?from=${from}&limit=100`),
    ]);
    return { from, perDay: perDay.items, reasons: reasons.items, metrics, errors: errors.items };
  }, [days]);
  return (
    <section>
      <PageTitle>Analytics</PageTitle>
      <label>
        Range{' '}
        <select name="days" value={String(days)} onChange={(e) => setDays(Number(e.currentTarget.value))}>
          <option value="7">last 7 days</option>
          <option value="14">last 14 days</option>
          <option value="30">last 30 days</option>
        </select>
      </label>
      <ErrorBox error={error} />
      {!data && !error && <Loading what="analytics" />}
      {data && <Charts {...data} days={days} />}
    </section>
  );
}

function Charts(p: { from: string; days: number; perDay: Stat[]; reasons: Stat[]; metrics: Metrics; errors: ErrorLog[] }) {
  const byDay = new Map(p.perDay.map((s) => [s.key, s.totalCalls]));
  const start = Date.parse(`${p.from}T00:00:00Z`);
  const dayBars: Bar[] = Array.from({ length: p.days }, (_, i) => {
    const d = isoDay(start + i * dayMs);
    return { label: d, value: byDay.get(d) ?? 0 };
  });
  const d = p.metrics.durationMs;
  const sec = (v: number | null) => (v === null ? 0 : Math.round(v / 100) / 10);
  const durationBars: Bar[] = [
    { label: 'average', value: sec(d.average) },
    { label: 'median (p50)', value: sec(d.p50) },
    { label: 'p95', value: sec(d.p95) },
    { label: 'longest', value: sec(d.max) },
  ];
  const reasonBars = p.reasons.map((s) => ({ label: s.key ?? 'still live', value: s.totalCalls })).sort((a, b) => b.value - a.value);
  const kinds = new Map<string, number>();
  for (const e of p.errors) kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
  const errorBars = [...kinds].map(([label, value]) => ({ label, value }));
  return (
    <>
      <p>
        {p.metrics.totalCalls} calls, {p.metrics.answeredCalls} answered
        {p.metrics.answerRate === null ? '' : ` (${Math.round(p.metrics.answerRate * 100)} %)`}, at most {p.metrics.peakConcurrency} at once.
      </p>
      <div class="charts">
        <ColumnChart title="Calls per day" bars={dayBars} />
        <BarChart title={`Talk time of ${d.count} answered calls (seconds)`} bars={durationBars} unit=" s" />
        <BarChart title="End reasons" bars={reasonBars} />
        <BarChart title="Errors by kind" bars={errorBars} />
      </div>
      <h2>Latest errors</h2>
      {p.errors.length === 0 ? (
        <p class="muted">No errors in this range.</p>
      ) : (
        <ul class="errors">
          {p.errors.slice(0, 10).map((e) => (
            <li key={e.id}>
              {time(e.createdAt)} <strong>{e.kind}</strong> {e.code ?? ''} {e.message}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
