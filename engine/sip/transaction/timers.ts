/**
 * RFC 3261 timers (§17, Table 4 in Appendix A), computed from T1, T2 and T4. A value of `null`
 * means the timer is not started on that transport; 0 means "fires at once" (§17.1.1.2: "Timer D
 * ... zero seconds for reliable transports", and likewise I, J and K).
 */

export interface TimerConfig {
  /** RTT estimate, 500 ms by default. */
  t1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s by default. */
  t2: number;
  /** Maximum duration a message remains in the network, 5 s by default. */
  t4: number;
}

export interface TimerValues {
  /** INVITE request retransmit interval, UDP only: starts at T1, doubles (§17.1.1.2). */
  A: number | null;
  /** INVITE transaction timeout: 64*T1. */
  B: number;
  /**
   * Wait time for response retransmits: "at least 32 seconds for unreliable transports"; 64*T1
   * is 32 s at the default T1 and shrinks with the short T1 of tests. 0 for reliable.
   */
  D: number;
  /** Non-INVITE request retransmit interval, UDP only: starts at T1, doubles up to T2 (§17.1.2.2). */
  E: number | null;
  /** Non-INVITE transaction timeout: 64*T1. */
  F: number;
  /** INVITE response retransmit interval, UDP only: starts at T1, doubles up to T2 (§17.2.1). */
  G: number | null;
  /** Wait time for ACK receipt: 64*T1. */
  H: number;
  /** Wait time for ACK retransmits: T4 for UDP, 0 for reliable. */
  I: number;
  /** Wait time for non-INVITE request retransmits: 64*T1 for UDP, 0 for reliable. */
  J: number;
  /** Wait time for response retransmits: T4 for UDP, 0 for reliable. */
  K: number;
}

/** The timer values for one transaction on a reliable or unreliable transport. */
export function timerValues(c: TimerConfig, reliable: boolean): TimerValues {
  const t64 = 64 * c.t1;
  return {
    A: reliable ? null : c.t1,
    B: t64,
    D: reliable ? 0 : t64,
    E: reliable ? null : c.t1,
    F: t64,
    G: reliable ? null : c.t1,
    H: t64,
    I: reliable ? 0 : c.t4,
    J: reliable ? 0 : t64,
    K: reliable ? 0 : c.t4,
  };
}

/** Counts live timers across a stack, so tests (and stats) can see that none leak. */
export class TimerCounter {
  active = 0;
}

/**
 * The named timers of one owner (a transaction, a retransmitter). Starting a name that runs
 * replaces it; `clear()` stops them all.
 */
export class TimerSet<N extends string = string> {
  readonly #timers = new Map<N, NodeJS.Timeout>();

  constructor(private readonly counter: TimerCounter = new TimerCounter()) {}

  start(name: N, ms: number, fn: () => void): void {
    this.stop(name);
    this.counter.active++;
    this.#timers.set(
      name,
      setTimeout(() => {
        this.#timers.delete(name);
        this.counter.active--;
        fn();
      }, ms),
    );
  }

  stop(name: N): void {
    const t = this.#timers.get(name);
    if (!t) return;
    clearTimeout(t);
    this.#timers.delete(name);
    this.counter.active--;
  }

  has(name: N): boolean {
    return this.#timers.has(name);
  }

  get size(): number {
    return this.#timers.size;
  }

  clear(): void {
    for (const name of [...this.#timers.keys()]) this.stop(name);
  }
}
