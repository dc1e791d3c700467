/**
 * The metrics a call moves: started, answered (with its setup latency), ended by reason. Call
 * control hands each admitted call to `track`, once per call; everything else happens on the
 * call's own `statechange` and `ended` events, so no SIP message or RTP packet pays for it.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Call } from '../calls/call.js';
import { endReasons } from '../calls/call-record.js';


/**
 * Setup latency buckets, seconds: call control answers in a few milliseconds when it answers at
 * once, and `sip.ringMs` adds its ring time (seconds), so the buckets span both.
 */
const SETUP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class CallMetrics {
  readonly #started: Counter;
  readonly #answered: Counter;
  readonly #ended: Counter<'reason'>;
  readonly #setup: Histogram;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#started = new Counter({ name: 'as_calls_started_total', help: 'Calls admitted by call control (routed, recorded, before media)', registers });
    this.#answered = new Counter({ name: 'as_calls_answered_total', help: 'Calls answered with 200', registers });
    this.#ended = new Counter({ name: 'as_calls_ended_total', help: 'Calls ended, by end reason', labelNames: ['reason'], registers });
    for (const reason of endReasons) this.#ended.inc({ reason }, 0);
    this.#setup = new Histogram({
      name: 'as_call_setup_seconds',
      help: 'From the INVITE reaching call control to the 200 being sent (includes sip.ringMs)',
      buckets: SETUP_BUCKETS,
      registers,
    });
  }

  /** Counts a call call control has just admitted, and follows it to its end. */
  track(call: Call): void {
    this.#started.inc();
    call.on('statechange', (to) => {
      if (to !== 'answered') return;
      this.#answered.inc();
      this.#setup.observe((performance.now() - call.receivedAt) / 1000);
    });
    call.once('ended', (info) => this.#ended.inc({ reason: info.reason }));
  }
}
