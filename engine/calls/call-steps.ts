/**
 * A call as a queue of small steps. Each step names what it needs of the call (a live call, one
 * not yet answered, an answered one, a media leg, a dialog), and awaits only through the call's
 * `AbortSignal`: when the call ends, whatever the step awaits rejects with `StepAborted`, the
 * queue stops, and nothing runs on an ended call. (After jambonz's tasks, kept small.)
 */
import type { Call } from './call.js';

/** Why an awaited thing was given up on: the call ended first. */
export class StepAborted extends Error {
  constructor(readonly reason: unknown) {
    super(`call ended: ${String(reason)}`);
    this.name = 'StepAborted';
  }
}

/** Thrown when a step is queued on a call that does not meet its needs: a bug, not a call event. */
export class StepPreconditionError extends Error {
  constructor(step: string, need: string) {
    super(`step ${step} needs ${need}`);
    this.name = 'StepPreconditionError';
  }
}

/** What the steps share: the call, plus what earlier steps produced. */
export interface StepContext {
  call: Call;
  /** Whether the context has the thing a need names (a media leg, a dialog). */
  has(need: 'leg' | 'dialog'): boolean;
}

/** What a step may need of the call before it runs. */
export type StepNeed = 'unanswered' | 'answered' | 'leg' | 'dialog';

/** One small step of a call. */
export interface CallStep<C extends StepContext> {
  readonly name: string;
  readonly needs: readonly StepNeed[];
  run(ctx: C, signal: AbortSignal): void | Promise<void>;
}

/** The first need of `step` the context does not meet, or null. */
function unmetNeed(ctx: StepContext, needs: readonly StepNeed[]): StepNeed | null {
  for (const need of needs) {
    const met =
      need === 'unanswered' ? !ctx.call.answeredAt : need === 'answered' ? ctx.call.state === 'answered' : ctx.has(need);
    if (!met) return need;
  }
  return null;
}

/**
 * Runs the steps in order until they are done or the call ends. Resolves to true when every
 * step ran. A step that throws anything but `StepAborted` rejects the queue (the caller's
 * failure path answers it); a synchronous step runs on in the same tick as the one before it.
 */
export async function runSteps<C extends StepContext>(ctx: C, steps: readonly CallStep<C>[]): Promise<boolean> {
  const { signal } = ctx.call;
  for (const step of steps) {
    if (signal.aborted) return false;
    const need = unmetNeed(ctx, step.needs);
    if (need) throw new StepPreconditionError(step.name, need);
    try {
      const done = step.run(ctx, signal);
      if (done) await done;
    } catch (err) {
      if (err instanceof StepAborted) return false;
      throw err;
    }
  }
  return !signal.aborted;
}

/**
 * Waits for `work`, or rejects with `StepAborted` as soon as `signal` aborts. What `work`
 * yields after the abort goes to `late` (to close a leg or a dialog nobody will use); its late
 * failure is dropped, as the call it was for is over.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal, late?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new StepAborted(signal.reason));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) late?.(value);
        else resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        if (!signal.aborted) reject(err);
      },
    );
  });
}

/** Waits `ms`, or rejects with `StepAborted` (and clears its timer) when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return untilAborted(new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => clearTimeout(t), { once: true });
  }), signal);
}
