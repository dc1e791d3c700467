/**
 * What the four transaction state machines of RFC 3261 §17 share: a state from a string union,
 * a table of legal moves, one `transition(to, reason)` that refuses anything else, logs one line,
 * emits `statechange`, and on the terminal state clears every timer and listener.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../../config/logger.js';
import { TypedEmitter } from '../../../lib/typed-emitter.js';
import type { SipRequest } from '../message/message.js';
import type { TransportLayer } from '../transport/transport-layer.js';
import { TimerSet, timerValues, type TimerConfig, type TimerCounter, type TimerValues } from './timers.js';

type TransactionKind = 'client-invite' | 'client-non-invite' | 'server-invite' | 'server-non-invite';

/** What a transaction gets from its layer. */
export interface TransactionContext {
  transport: TransportLayer;
  timers: TimerConfig;
  counter: TimerCounter;
  log: Logger;
}

/** Events every transaction emits. Terminal: `terminated` is the last event. */
export interface BaseTransactionEvents<S extends string> extends Record<string, unknown[]> {
  statechange: [to: S, from: S, reason: string];
  terminated: [reason: string];
}

/** Thrown when the layer above asks for something the state does not allow. */
export class TransactionStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransactionStateError';
  }
}

export abstract class Transaction<S extends string, E extends BaseTransactionEvents<S>> extends TypedEmitter<E> {
  /** A UUID, unique per transaction (the drachtio layer uses it as its transaction id). */
  readonly id = randomUUID();
  abstract readonly kind: TransactionKind;
  protected readonly timers: TimerSet;
  protected readonly t: TimerValues;
  protected readonly log: Logger;
  #state: S;

  protected constructor(
    protected readonly ctx: TransactionContext,
    /** The request that created the transaction. */
    readonly request: SipRequest,
    /** Matching key in the transaction table (§17.1.3, §17.2.3). */
    readonly key: string,
    readonly reliable: boolean,
    initial: S,
    private readonly moves: Readonly<Record<S, readonly S[]>>,
  ) {
    super((event, error) => ctx.log.error({ err: error, event, transaction: this.id }, 'transaction listener failed'));
    this.#state = initial;
    this.timers = new TimerSet(ctx.counter);
    this.t = timerValues(ctx.timers, reliable);
    this.log = ctx.log;
  }

  get state(): S {
    return this.#state;
  }

  get isTerminated(): boolean {
    return this.#state === 'terminated';
  }

  /** Moves to `to` if the table allows it. Returns false (and logs) when it does not. */
  protected transition(to: S, reason: string): boolean {
    const from = this.#state;
    if (!this.moves[from].includes(to)) {
      this.log.warn({ transaction: this.id, kind: this.kind, from, to, reason }, 'illegal transaction transition refused');
      return false;
    }
    this.#state = to;
    if (this.log.isLevelEnabled('debug')) this.log.debug({ transaction: this.id, kind: this.kind, from, to, reason }, 'transaction state');
    const self = this as unknown as TypedEmitter<BaseTransactionEvents<S>>;
    self.emit('statechange', to, from, reason);
    if (to === 'terminated') {
      this.timers.clear();
      self.emit('terminated', reason);
      this.removeAllListeners();
    }
    return true;
  }

  /** Ends the transaction now, whatever its state (the stack is closing). */
  abort(reason: string): void {
    if (!this.isTerminated) this.transition('terminated' as S, reason);
  }

  /**
   * Runs a retransmission timer: `fire` runs each time it expires and returns the next interval,
   * or null to stop.
   */
  protected retransmit(name: string, first: number, fire: (interval: number) => number | null): void {
    const run = (interval: number) => {
      this.timers.start(name, interval, () => {
        const next = fire(interval);
        if (next !== null && !this.isTerminated) run(next);
      });
    };
    run(first);
  }

  /**
   * Starts a wait timer (D, I, J, K) that ends the transaction. A value of 0 (reliable
   * transports) ends it at once, as the RFC's "zero seconds" means.
   */
  protected waitThenTerminate(name: string, ms: number, reason: string): void {
    if (ms === 0) this.transition('terminated' as S, reason);
    else this.timers.start(name, ms, () => this.transition('terminated' as S, reason));
  }
}
