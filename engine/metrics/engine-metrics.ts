/**
 * The engine's Prometheus metrics, on a registry of its own (several engines in one process, as
 * in tests, do not share series). Two kinds:
 *
 * - **Moved by events, once per call or transaction**: calls started, answered (setup latency
 *   histogram), ended by reason (`CallMetrics`); event-log transaction time.
 * - **Read on scrape** (nothing is counted on the hot path twice): calls by state, SIP messages
 *   by method and response class, live SIP transactions and dialogs, the SIP abuse counters,
 *   media workers and their CPU time, and prom-client's process metrics (event-loop delay, CPU,
 *   memory, GC). `scrape()` first gathers what must be awaited (the SIP thread's counters, each
 *   media worker's resource usage) into one snapshot, then renders every metric from it.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { types as ms } from 'mediasoup';
import type { CallState } from '../calls/call.js';
import type { AbuseStats } from '../sip/abuse/source-guard.js';
import type { SipStackMetrics } from '../sip/sip-stack.js';
import { countedMethods, responseClasses } from '../sip/transport/message-counts.js';
import type { WorkerPool } from '../../media/worker-pool.js';
import type { MediaService } from '../../media/media-service.js';
import { CallMetrics } from './call-metrics.js';

/** What a metric read from a snapshot on scrape is built with (Counter and Gauge both take it). */
interface SnapshotMetricConfig<M> {
  name: string;
  help: string;
  labelNames: string[];
  registers: Registry[];
  collect(this: M): void;
}

/** Where the read-on-scrape metrics come from; each getter may answer null (not started, external SIP). */
export interface MetricSources {
  /** Live calls (their states). */
  calls(): Iterable<{ readonly state: CallState }> | null;
  /** Whether call control is connected to the SIP server. */
  callControlConnected(): boolean;
  /** The SIP stack's counters: null when the SIP server is external (not ours to count). */
  sip(): SipStackMetrics | Promise<SipStackMetrics | null> | null;
  pool: WorkerPool;
  media: MediaService;
}

/** Event-log transaction buckets, seconds: a WAL commit with `synchronous = NORMAL` is tens of microseconds to milliseconds. */
const COMMIT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** A worker that does not report its resource usage within this is left out of that scrape. */
const WORKER_USAGE_TIMEOUT_MS = 1000;

const liveStates: readonly CallState[] = ['trying', 'ringing', 'answered'];

/** Abuse counters (monotonic) and their metric names. */
const abuseCounters: readonly [keyof AbuseStats, string, string][] = [
  ['requestsRateLimited', 'requests_rate_limited', 'Out-of-dialog requests dropped over their source\'s rate'],
  ['dialogRequestsRateLimited', 'dialog_requests_rate_limited', 'Requests with a To tag dropped over their source\'s rate'],
  ['failedAuths', 'failed_auths', 'Failed authentications (403, or 401/407 to credentials)'],
  ['challengesSent', 'challenges_sent', 'Digest challenges sent to requests without credentials'],
  ['responsesTarpitted', 'responses_tarpitted', 'Failure responses delayed by the tarpit'],
  ['bansTotal', 'bans', 'Sources banned'],
  ['datagramsDroppedBanned', 'messages_dropped_banned', 'Messages from banned sources dropped unparsed'],
  ['connectionsRefusedBanned', 'connections_refused_banned', 'Connections from banned sources refused'],
  ['responsesSuppressedBanned', 'responses_suppressed_banned', 'Final responses to banned sources not sent'],
  ['sourcesEvicted', 'sources_evicted', 'Sources forgotten to keep the table within its cap'],
];

interface Snapshot {
  sip: SipStackMetrics | null;
  /** Per live worker: slot index, pid, CPU seconds (user, system) when it answered. */
  workerUsage: Map<number, { user: number; system: number }>;
}

export class EngineMetrics {
  readonly registry = new Registry();
  readonly calls: CallMetrics;
  readonly #commit: Histogram;
  #snap: Snapshot = { sip: null, workerUsage: new Map() };
  #sources: MetricSources | null = null;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.calls = new CallMetrics(this.registry);
    this.#commit = new Histogram({
      name: 'as_db_transaction_seconds',
      help: 'Event-log write transactions (a call or agent row change and its event), statements and commit',
      buckets: COMMIT_BUCKETS,
      registers: [this.registry],
    });
    this.#defineScraped();
  }

  /** Told each event-log transaction's time (seconds). */
  readonly observeCommit = (seconds: number): void => this.#commit.observe(seconds);

  /** Connects the read-on-scrape metrics to the engine's parts, once they exist. */
  attach(sources: MetricSources): void {
    this.#sources = sources;
  }

  /** The text exposition of every metric (`text/plain; version=0.0.4`). */
  async scrape(): Promise<string> {
    const src = this.#sources;
    if (src) {
      const [sip, workerUsage] = await Promise.all([src.sip(), workerCpu(src.pool.workers())]);
      this.#snap = { sip, workerUsage };
    }
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  #defineScraped(): void {
    const registers = [this.registry];
    const snap = () => this.#snap;
    const src = () => this.#sources;

    new Gauge({
      name: 'as_calls_active',
      help: 'Live calls by state',
      labelNames: ['state'],
      registers,
      collect() {
        const counts: Record<string, number> = { trying: 0, ringing: 0, answered: 0 };
        for (const c of src()?.calls() ?? []) counts[c.state] = (counts[c.state] ?? 0) + 1;
        for (const state of liveStates) this.set({ state }, counts[state]!);
      },
    });
    new Gauge({
      name: 'as_sip_call_control_connected',
      help: '1 while call control is connected to the SIP server',
      registers,
      collect() {
        this.set(src()?.callControlConnected() ? 1 : 0);
      },
    });

    // SIP series are read from the stack's snapshot on each scrape: reset, then filled (absent
    // with an external SIP server). One helper for counters and gauges alike.
    const sipMetric = <M extends Counter | Gauge>(Kind: new (c: SnapshotMetricConfig<M>) => M, name: string, help: string, labelNames: string[], fill: (m: M, s: SipStackMetrics) => void) =>
      new Kind({
        name,
        help,
        labelNames,
        registers,
        collect(this: M) {
          const s = snap().sip;
          this.reset();
          if (s) fill(this, s);
        },
      });
    const sipCounter = (name: string, help: string, labelNames: string[], fill: (c: Counter, s: SipStackMetrics) => void) =>
      sipMetric(Counter, name, help, labelNames, fill);
    sipCounter('as_sip_requests_total', 'SIP requests by direction and method (valid messages; retransmissions not counted)', ['direction', 'method'], (c, s) => {
      for (const method of countedMethods) {
        c.inc({ direction: 'in', method }, s.messages.requestsIn[method]);
        c.inc({ direction: 'out', method }, s.messages.requestsOut[method]);
      }
    });
    sipCounter('as_sip_responses_total', 'SIP responses by direction and class', ['direction', 'class'], (c, s) => {
      for (const cls of responseClasses) {
        c.inc({ direction: 'in', class: cls }, s.messages.responsesIn[cls]);
        c.inc({ direction: 'out', class: cls }, s.messages.responsesOut[cls]);
      }
    });
    sipCounter('as_sip_malformed_total', 'SIP messages that failed parsing or validation', [], (c, s) => c.inc(s.messages.malformed));
    for (const [key, name, help] of abuseCounters) {
      sipCounter(`as_sip_abuse_${name}_total`, help, [], (c, s) => {
        if (s.abuse) c.inc(s.abuse[key]);
      });
    }
    const sipGauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge, s: SipStackMetrics) => void) =>
      sipMetric(Gauge, name, help, labelNames, fill);
    sipGauge('as_sip_abuse_bans_active', 'Sources banned now', [], (g, s) => s.abuse && g.set(s.abuse.bansActive));
    sipGauge('as_sip_abuse_sources_tracked', 'Sources the abuse guard remembers', [], (g, s) => s.abuse && g.set(s.abuse.sourcesTracked));
    sipGauge('as_sip_transactions', 'Live SIP transactions by kind', ['kind'], (g, s) => {
      g.set({ kind: 'server' }, s.live.serverTransactions);
      g.set({ kind: 'client' }, s.live.clientTransactions);
    });
    sipGauge('as_sip_thread_eventloop_delay_seconds', 'Event-loop delay of the SIP thread since the previous scrape (sip.server=thread)', ['quantile'], (g, s) => {
      if (!s.threadLoopDelay) return;
      g.set({ quantile: '0.5' }, s.threadLoopDelay.p50);
      g.set({ quantile: '0.99' }, s.threadLoopDelay.p99);
      g.set({ quantile: '1' }, s.threadLoopDelay.max);
    });
    sipGauge('as_sip_dialogs', 'Live SIP dialogs', [], (g, s) => g.set(s.live.dialogs));
    sipGauge('as_sip_connections', 'Open SIP TCP/TLS connections', [], (g, s) => g.set(s.live.connections));

    new Gauge({
      name: 'as_media_workers',
      help: 'mediasoup workers by state (expected, alive)',
      labelNames: ['state'],
      registers,
      collect() {
        const p = src()?.pool.stats();
        this.set({ state: 'expected' }, p?.expected ?? 0);
        this.set({ state: 'alive' }, p?.alive ?? 0);
      },
    });
    new Counter({
      name: 'as_media_worker_deaths_total',
      help: 'Deaths of the mediasoup worker in each slot',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const w of src()?.pool.stats().workers ?? []) this.inc({ worker: String(w.index) }, w.deaths);
      },
    });
    new Gauge({
      name: 'as_media_legs',
      help: 'Open SIP call legs (RTP) by worker slot',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        const s = src();
        if (!s) return;
        const byPid = new Map<number, number>();
        for (const leg of s.media.legs()) byPid.set(leg.workerPid, (byPid.get(leg.workerPid) ?? 0) + 1);
        for (const w of s.pool.stats().workers) this.set({ worker: String(w.index) }, w.pid === null ? 0 : byPid.get(w.pid) ?? 0);
      },
    });
    new Counter({
      name: 'as_media_worker_cpu_seconds_total',
      help: 'CPU time of each live mediasoup worker (getrusage), by mode',
      labelNames: ['worker', 'mode'],
      registers,
      collect() {
        this.reset();
        for (const [index, u] of snap().workerUsage) {
          this.inc({ worker: String(index), mode: 'user' }, u.user);
          this.inc({ worker: String(index), mode: 'system' }, u.system);
        }
      },
    });
  }
}

/** Each live worker's CPU time (mediasoup reports getrusage in ms), by slot; a slow worker is left out. */
async function workerCpu(workers: readonly ms.Worker[]): Promise<Map<number, { user: number; system: number }>> {
  const out = new Map<number, { user: number; system: number }>();
  await Promise.all(
    workers.map(async (w) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const u = await Promise.race([
          w.getResourceUsage(),
          new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), WORKER_USAGE_TIMEOUT_MS))),
        ]);
        const slot = (w.appData as { slot?: unknown }).slot;
        if (u && typeof slot === 'number') out.set(slot, { user: u.ru_utime / 1000, system: u.ru_stime / 1000 });
      } catch {
        // a worker dying mid-scrape: its slot is missing from this scrape
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return out;
}
