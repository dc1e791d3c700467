/**
 * What the process does with an error that escaped every boundary (an uncaught exception or an
 * unhandled rejection). Every request, frame and datagram has its own boundary, so reaching here
 * is a defect; the policy is chosen for a telephony engine, where dying drops every live call:
 *
 * - Log it at `fatal` with its origin and stack, and keep serving: live calls carry on.
 * - When more than `maxFaults` arrive within `windowMs`, the process is assumed to be broken
 *   beyond repair: stop gracefully (live calls get BYE, the database is checkpointed) and exit
 *   with 70 (EX_SOFTWARE), for the supervisor to restart.
 */
import type { Logger } from '../config/logger.js';

/** Faults in one window before a graceful stop: a few strays are survivable, a loop is not. */
const MAX_FAULTS = 5;
const WINDOW_MS = 60_000;
export const EX_SOFTWARE = 70;

interface ProcessFaultOptions {
  log: Logger;
  /** Called once, when faults come faster than the policy allows. */
  onTooMany: () => void;
  maxFaults?: number;
  windowMs?: number;
}

export class ProcessFaults {
  /** Faults seen since start, for health. */
  total = 0;
  readonly #recent: number[] = [];
  #gaveUp = false;

  constructor(private readonly opts: ProcessFaultOptions) {}

  /** Installs the process handlers; returns a function that removes them. */
  install(): () => void {
    const onException = (err: Error, origin: string) => this.record(err, origin);
    const onRejection = (reason: unknown) => this.record(reason, 'unhandledRejection');
    process.on('uncaughtException', onException);
    process.on('unhandledRejection', onRejection);
    return () => {
      process.off('uncaughtException', onException);
      process.off('unhandledRejection', onRejection);
    };
  }

  record(err: unknown, origin: string): void {
    this.total++;
    const now = Date.now();
    const windowMs = this.opts.windowMs ?? WINDOW_MS;
    this.#recent.push(now);
    while (this.#recent.length && this.#recent[0]! < now - windowMs) this.#recent.shift();
    const max = this.opts.maxFaults ?? MAX_FAULTS;
    this.opts.log.fatal({ err, origin, faults: this.total, inWindow: this.#recent.length }, 'error escaped every boundary; still serving');
    if (this.#recent.length > max && !this.#gaveUp) {
      this.#gaveUp = true;
      this.opts.log.fatal({ max, windowMs }, 'too many escaped errors; stopping gracefully');
      this.opts.onTooMany();
    }
  }
}
