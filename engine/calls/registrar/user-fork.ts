/**
 * The engine's INVITE forked to every binding of a user at once (RFC 3261 §16.6, here as a
 * B2BUA's UAC side: one `dial` per binding, each with its own media leg's offer): the first 2xx
 * wins and every other branch is CANCELed (§16.7 step 10, "the proxy MUST ... CANCEL all
 * pending client transactions"); a 2xx that comes late on a CANCELed branch is ACKed and BYEd
 * (dial.ts). When no branch answers, the best final response is chosen (§16.7 step 6).
 */
import type Srf from 'drachtio-srf';
import type { Logger } from '../../../config/logger.js';
import { dial, type Dialed } from '../dial.js';
import { destroyDialog } from '../in-dialog.js';
import type { Binding } from './bindings.js';

/** One binding being rung: its offer, and its own abort (CANCEL) for when it loses or its leg dies. */
export interface ForkBranch {
  binding: Binding;
  offer: string;
  abort: AbortController;
}

/**
 * - `answered`: branch `index` sent the first 2xx; the dialog is ours;
 * - `failed`: every branch ended without a 2xx. `reason` is `no_answer` (every branch rang out),
 *   `refused` (`status` is the best final response), `call_ended` (every branch was CANCELed
 *   before an answer: the call ended, or each leg died), or `dial_error` (no final response).
 */
export type Forked = { kind: 'answered'; index: number; dialog: Srf.Dialog } | { kind: 'failed'; reason: 'no_answer' | 'refused' | 'call_ended' | 'dial_error'; status: number | null };

export interface ForkRequest {
  ringMs: number;
  callingNumber: string | null;
  /** The first 180 or 183 of any branch, once per branch. */
  onRinging(index: number): void;
  /** Extra headers of every branch's INVITE (outbound calls' `X-` headers). */
  headers?: Record<string, string>;
  /** Once, when the first branch's INVITE has left (or none will), with its Call-ID (null when none left). */
  onSent?(sipCallId: string | null): void;
}

type Failure = Extract<Dialed, { kind: 'failed' }>;

/** Rings every branch; `signal` aborting CANCELs them all. Never rejects. */
export function forkInvite(srf: Srf, signal: AbortSignal, branches: readonly ForkBranch[], r: ForkRequest, log: Logger): Promise<Forked> {
  return new Promise<Forked>((resolve) => {
    let settled = false;
    let pending = branches.length;
    const failures: Failure[] = [];
    const cancelAll = () => branches.forEach((b) => b.abort.abort());
    if (signal.aborted) cancelAll();
    else signal.addEventListener('abort', cancelAll, { once: true });
    let sent = false;
    const onSent = (sipCallId: string | null) => {
      if (sent) return;
      sent = true;
      try {
        r.onSent?.(sipCallId);
      } catch (err) {
        log.error({ err }, 'INVITE sent handler threw');
      }
    };
    const settle = (f: Forked) => {
      onSent(null);
      settled = true;
      signal.removeEventListener('abort', cancelAll);
      resolve(f);
    };
    if (branches.length === 0) return settle({ kind: 'failed', reason: 'dial_error', status: null });
    branches.forEach((b, index) => {
      const blog = log.child({ branch: index, contact: b.binding.contact });
      const onProvisional = ({ status }: { status: number }) => {
        if (status === 180 || status === 183) r.onRinging(index);
      };
      const req = { offer: b.offer, target: { uri: b.binding.contact, auth: null }, ringMs: r.ringMs, callingNumber: r.callingNumber, onProvisional, onSent, ...(r.headers ? { headers: r.headers } : {}) };
      void dial(srf, b.abort.signal, req, blog).then((d) => {
        pending--;
        if (d.kind === 'answered') {
          if (settled) {
            // Two 2xx crossed (§16.7 step 5 leaves them to the UAC): the later one is hung up.
            blog.info('a second branch answered: BYE');
            destroyDialog(d.dialog, blog);
            return;
          }
          branches.forEach((other, j) => j !== index && other.abort.abort());
          settle({ kind: 'answered', index, dialog: d.dialog });
          return;
        }
        failures.push(d);
        if (pending === 0 && !settled) settle(bestFailure(failures));
      });
    });
  });
}

/**
 * The response the caller gets when no branch answered (RFC 3261 §16.7 step 6): a 6xx first
 * (a global refusal, 603 Decline); then 486 Busy Here (a busy user is what a caller should hear
 * over a device that rang out); then the lowest other final status; then a ring-out, then the
 * branches CANCELed under us; else no final response at all.
 */
export function bestFailure(failures: readonly Failure[]): Extract<Forked, { kind: 'failed' }> {
  const statuses = failures.map((f) => f.status).filter((s): s is number => s !== null && s >= 300);
  const global = statuses.find((s) => s >= 600);
  if (global) return { kind: 'failed', reason: 'refused', status: global };
  if (statuses.includes(486)) return { kind: 'failed', reason: 'refused', status: 486 };
  if (statuses.length) return { kind: 'failed', reason: 'refused', status: Math.min(...statuses) };
  if (failures.some((f) => f.reason === 'no_answer')) return { kind: 'failed', reason: 'no_answer', status: null };
  if (failures.length && failures.every((f) => f.reason === 'call_ended')) return { kind: 'failed', reason: 'call_ended', status: null };
  return { kind: 'failed', reason: 'dial_error', status: null };
}

/** What the caller is told when no binding answered (`forkInvite`'s `failed`): a ring-out is 480 Temporarily Unavailable (§21.4.18). */
export function refusalFor(d: { reason: string; status: number | null }): number {
  if (d.reason === 'no_answer') return 480;
  const s = d.status;
  // A challenge from the callee is between it and the engine; the caller cannot answer it.
  if (s === null || s === 401 || s === 407 || s < 400 || s > 699) return 480;
  return s;
}
