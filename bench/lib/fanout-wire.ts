/**
 * What the event fan-out benchmark's processes share: the IPC messages between the bench and its
 * servers and clients, the paced publisher both servers run, where the publish time sits in an
 * event, and the latency histogram the clients fill.
 *
 * The publish time is CLOCK_MONOTONIC in nanoseconds (`process.hrtime.bigint()`), one clock for
 * every process on the machine, written at the front of the event's `text`: `"text":"<ns> …"`.
 */

/** bench -> server: publish `count` events at `rate` per second, `burst` at a time (back to back, one turn of the loop). */
export interface PublishOrder {
  type: 'publish';
  rate: number;
  count: number;
  burst: number;
  /**
   * Each event of a burst from its own timer callback (all due at once, so one phase of the loop),
   * as events arriving from separate I/O callbacks are; not one synchronous run.
   */
  spread?: boolean;
}

/** server -> bench: the publisher is done. */
export interface Published {
  type: 'published';
  count: number;
  /** Events published later than their slot by more than one period (the server's loop lagged). */
  late: number;
}

/** bench -> clients (each answered: `reset` and `count` by a count, `report` by a report). */
export type ClientOrder = { type: 'reset' } | { type: 'count' } | { type: 'report' };

/** clients -> bench. */
export type ClientReply =
  | { type: 'ready'; open: number; failed: number; firstError: string | null }
  | { type: 'count'; received: number }
  | {
      type: 'report';
      /** Events received since the last reset. */
      received: number;
      unparsed: number;
      /** Subscribers closed since they opened. */
      closed: number;
      histogram: [number, number][];
    };

/** The sentence after the timestamp: an agent's turn is about this long. */
const SENTENCE = 'Thank you for calling, your appointment is confirmed for Tuesday at ten.';

/** An event's text carrying its publish time. */
export const stampedText = (): string => `${process.hrtime.bigint()} ${SENTENCE}`;

/** The tenant of the peers' events (the engine's are its seeded tenant's). */
const TENANT_ID = '3f0c9a52-6d1e-4c8b-9a57-2f6b1d0e7c41';
/** The call of every event: the engine's log does not require the call's row, and clients do not look. */
export const FANOUT_CALL_ID = '00000000-0000-4000-8000-00000000fa40';

/** A peer's event `id`, with the engine's shape and size (~360 bytes), stamped now. */
export function eventJson(id: number): string {
  return JSON.stringify({
    id,
    type: 'call.agent_said',
    tenantId: TENANT_ID,
    mode: 'live',
    callId: FANOUT_CALL_ID,
    createdAt: new Date().toISOString(),
    data: { callId: FANOUT_CALL_ID, agentId: null, text: stampedText() },
  });
}

/** The engine's WebSocket text for an event: `{"type":"event","event":…}`. */
export const eventFrameText = (id: number): string => `{"type":"event","event":${eventJson(id)}}`;

const MARK = '"text":"';

/**
 * Calls `each` with the publish time (ns) of every event found in `text` (one frame, or a run of
 * SSE blocks). Returns how many were found.
 */
export function forEachStamp(text: string, each: (ns: bigint) => void): number {
  let n = 0;
  let at = text.indexOf(MARK);
  while (at >= 0) {
    const start = at + MARK.length;
    const end = text.indexOf(' ', start);
    if (end > start) {
      each(BigInt(text.slice(start, end)));
      n++;
    }
    at = text.indexOf(MARK, start);
  }
  return n;
}

/**
 * Runs `publish` `count` times at `rate` per second, `burst` at a time, each burst on its slot of
 * a fixed schedule (a stall is caught up, not skipped), then resolves. Every server uses it, so
 * they publish alike.
 */
export function publishPaced({ rate, count, burst, spread }: PublishOrder, publish: () => void): Promise<Published> {
  const one = spread ? () => void setTimeout(publish, 0) : publish;
  const periodMs = (1000 * burst) / rate;
  const t0 = performance.now();
  let sent = 0;
  let late = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      const slot = () => t0 + Math.floor(sent / burst) * periodMs;
      while (sent < count && slot() <= now) {
        if (now - slot() > periodMs) late++;
        one();
        sent++;
      }
      if (sent >= count) resolve({ type: 'published', count: sent, late });
      else setTimeout(tick, Math.max(0, slot() - performance.now()));
    };
    tick();
  });
}

/** Latency histogram: 10 µs buckets up to 2 s, the last bucket holds everything above. */
export const BUCKET_MS = 0.01;
const BUCKETS = 200_000;

export class LatencyHistogram {
  readonly #counts = new Uint32Array(BUCKETS + 1);

  add(ms: number): void {
    const b = Math.min(BUCKETS, Math.max(0, Math.floor(ms / BUCKET_MS)));
    this.#counts[b]!++;
  }

  reset(): void {
    this.#counts.fill(0);
  }

  /** Non-empty buckets as [bucket, count] (what crosses IPC). */
  sparse(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < this.#counts.length; i++) if (this.#counts[i]) out.push([i, this.#counts[i]!]);
    return out;
  }
}

/** Quantiles (0..1) in ms of merged sparse histograms; the upper edge of the bucket. */
export function histogramQuantiles(parts: [number, number][][], qs: number[]): number[] {
  const merged = new Map<number, number>();
  for (const p of parts) for (const [b, c] of p) merged.set(b, (merged.get(b) ?? 0) + c);
  const sorted = [...merged].sort((a, b) => a[0] - b[0]);
  const total = sorted.reduce((s, [, c]) => s + c, 0);
  return qs.map((q) => {
    if (!total) return NaN;
    const rank = Math.ceil(q * total);
    let seen = 0;
    for (const [b, c] of sorted) {
      seen += c;
      if (seen >= rank) return (b + 1) * BUCKET_MS;
    }
    return NaN;
  });
}
