/**
 * One call's lifecycle as a state machine. States are a union, legal moves a table; the final
 * state aborts the call's `signal` (every step still awaiting something stops), then runs every
 * registered disposer (timers, listeners, media leg, dialog) exactly once. Every reason a call
 * ends (cancel, media failure, ACK timeout, BYE either way, timers, worker death, API hangup,
 * shutdown) goes through `end`, and `outcome` is the one place completed/failed is decided.
 */
import type Srf from 'drachtio-srf';
import type { Logger } from '../../config/logger.js';
import type { CallLeg } from '../../media/call-leg.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import type { CallMetrics, EndReason, HangupBy, TranscriptEntry } from './call-record.js';
import type { Mode } from '../store/mode.js';

export type { HangupBy };

/**
 * `queued`: an outbound call waiting for its trunk's caps (CPS, concurrency) before its INVITE;
 * `trying`: an inbound INVITE being handled, or an outbound INVITE sent and not yet ringing.
 */
export type CallState = 'queued' | 'trying' | 'ringing' | 'answered' | 'ended';

/**
 * The legal moves: a queued call is dialled (trying) or ends in the queue; a call rings at most
 * once, is answered at most once, and ends once.
 */
export const callMoves: Readonly<Record<CallState, readonly CallState[]>> = {
  queued: ['trying', 'ended'],
  trying: ['ringing', 'answered', 'ended'],
  ringing: ['answered', 'ended'],
  answered: ['ended'],
  ended: [],
};

export type { EndReason };

export interface EndInfo {
  reason: EndReason;
  hangupBy: HangupBy | null;
}

/** A key the caller pressed, by whichever way it came: RTP events (RFC 4733) or SIP INFO. */
export interface CallDtmf {
  /** 0-9, *, #, A-D, or `flash`. */
  digit: string;
  /** How long the key was held, when the peer said. */
  durationMs: number | null;
  source: 'rfc4733' | 'info';
}

type CallEvents = {
  statechange: [to: CallState, from: CallState, reason: string];
  ended: [info: EndInfo];
  /** One per key press: the caller's DTMF, from SIP INFO here, from RTP via the agent runtime. */
  dtmf: [dtmf: CallDtmf];
};

/**
 * What can be asked of a live call that runs an agent (REST actions, WebSocket commands). Each
 * acts at once or queues the work and returns; one that cannot be done now throws
 * `CallActionRefused`, which the API answers as a conflict.
 */
export interface CallActions {
  /** Speaks `text` after what is queued, or at once when `interrupt` (the queue is flushed). */
  say(text: string, opts?: { interrupt?: boolean }): void;
  /** Sends DTMF digits (0-9, *, #, A-D) to the caller. */
  sendDtmf(digits: string): void;
  /** Mutes or unmutes the agent's audio to the caller. */
  setMuted(muted: boolean): void;
  /** Starts a blind transfer to an E.164 number or a sip: URI. */
  transfer(target: string): void;
}

export class CallActionRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CallActionRefused';
  }
}

/** What a call's steps attached to it, for whatever acts on the live call (runtime, transfer). */
export interface CallParts {
  leg?: CallLeg;
  dialog?: Srf.Dialog;
}

/** How an ended call is recorded. */
export type CallOutcome = 'completed' | 'failed' | 'canceled' | 'busy' | 'no_answer';

interface CallIdentity {
  id: string;
  tenantId: string;
  mode: Mode;
  agentId: string | null;
  sipCallId: string;
}

export class Call extends TypedEmitter<CallEvents> {
  #state: CallState;
  readonly #disposers: (() => void)[] = [];
  readonly #abort = new AbortController();
  readonly startedAt = new Date();
  answeredAt: Date | null = null;
  endedAt: Date | null = null;
  endInfo: EndInfo | null = null;
  /** The media leg and dialog, once the steps have them. */
  readonly parts: CallParts = {};
  /** What was said on the call, in order (the agent runtime writes it; stored when the call ends). */
  readonly transcript: TranscriptEntry[] = [];
  /** Measurements stored with the call when it ends (path taken, turn latencies). */
  metrics: CallMetrics = {};
  /** Set while an agent runtime drives the call; null otherwise (the API refuses actions then). */
  actions: CallActions | null = null;

  constructor(
    readonly identity: CallIdentity,
    readonly log: Logger,
    /** When its INVITE reached call control (`performance.now()` ms): setup latency starts here. */
    readonly receivedAt: number = performance.now(),
    /** `queued` for an outbound call waiting for its INVITE; `trying` otherwise. */
    initial: 'queued' | 'trying' = 'trying',
  ) {
    super((event, err) => log.error({ event, err }, 'call listener threw'));
    this.#state = initial;
  }

  get id(): string {
    return this.identity.id;
  }

  get state(): CallState {
    return this.#state;
  }

  get ended(): boolean {
    return this.#state === 'ended';
  }

  /** Aborted when the call ends: the steps of the call await nothing past it. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Runs `fn` when the call ends (or at once if it already has). */
  onDispose(fn: () => void): void {
    if (this.ended) safe(this.log, fn);
    else this.#disposers.push(fn);
  }

  /** A timer that dies with the call. */
  timer(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(fn, ms);
    this.onDispose(() => clearTimeout(t));
    return t;
  }

  /** Moves to `to`; an illegal move is refused (returns false) and logged. */
  transition(to: CallState, reason: string): boolean {
    const from = this.#state;
    if (!callMoves[from].includes(to)) {
      this.log.warn({ from, to, reason }, 'illegal call transition refused');
      return false;
    }
    this.#state = to;
    if (to === 'answered') this.answeredAt = new Date();
    this.log.debug({ from, to, reason }, 'call state');
    this.emit('statechange', to, from, reason);
    return true;
  }

  /**
   * Ends the call once: state `ended`, its signal aborted, then every disposer, then `ended`.
   * Idempotent.
   */
  end(info: EndInfo): boolean {
    if (!this.transition('ended', info.reason)) return false;
    this.endedAt = new Date();
    this.endInfo = info;
    this.#abort.abort(info.reason);
    for (const fn of this.#disposers.splice(0).reverse()) safe(this.log, fn);
    this.emit('ended', info);
    this.removeAllListeners();
    return true;
  }

  /** Ends the call on the engine's side (BYE once answered). */
  hangup(reason: EndReason): boolean {
    return this.end({ reason, hangupBy: 'system' });
  }

  /**
   * The final status, decided here only: an unanswered call failed unless it was canceled (by
   * the caller, or through the API for an outbound one), or an outbound one was busy or not
   * answered; an answered one completed, unless its 200 was never ACKed (the caller never
   * confirmed the call). Null while the call lives.
   */
  get outcome(): CallOutcome | null {
    const info = this.endInfo;
    if (!info) return null;
    if (this.answeredAt) return info.reason === 'ack_timeout' ? 'failed' : 'completed';
    return unansweredOutcome[info.reason as keyof typeof unansweredOutcome] ?? 'failed';
  }

  /** Milliseconds from answer to end (null when never answered). */
  get durationMs(): number | null {
    return this.answeredAt && this.endedAt ? this.endedAt.getTime() - this.answeredAt.getTime() : null;
  }
}

/** The end reasons of an unanswered call that are not `failed`. */
const unansweredOutcome = { canceled: 'canceled', busy: 'busy', no_answer: 'no_answer' } as const satisfies Partial<Record<EndReason, CallOutcome>>;

function safe(log: Logger, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    log.error({ err }, 'call disposer threw');
  }
}
