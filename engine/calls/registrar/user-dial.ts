/**
 * The engine's own call to every binding of a SIP user at once, for a transfer to the user
 * (../transfer-bridge.ts) and an outbound call to it (../outbound-steps.ts): a media leg per
 * binding (a WebRTC leg for a browser, plain RTP for a device; the caller says how), an INVITE per
 * binding (user-fork.ts `forkInvite`: the first 2xx wins, the others are CANCELed), the losers'
 * legs closed. A ringing branch whose leg closes by itself is CANCELed alone. Never throws.
 */
import type Srf from 'drachtio-srf';
import type { Logger } from '../../../config/logger.js';
import type { CallLeg } from '../../../media/call-leg.js';
import type { Binding } from './bindings.js';
import { forkInvite, type ForkBranch, type ForkRequest } from './user-fork.js';

export interface BindingsDial extends Omit<ForkRequest, 'onRinging'> {
  /** The bindings that ring, newest first. */
  bindings: readonly Binding[];
  /** The leg a binding is offered from; one that throws leaves its binding out. */
  makeLeg(binding: Binding, index: number): Promise<CallLeg>;
  /** The leg's offer (its codecs). */
  offerOf(leg: CallLeg): string;
  /** The first 180 or 183 of a branch. */
  onRinging?(index: number): void;
}

/**
 * - `answered`: `binding` answered first; its leg (remote not applied yet) and dialog are the
 *   caller's, every other leg is closed;
 * - `failed`: as `dial`'s failures: `no_answer`, `call_ended`, `target answered <status>` (the
 *   best refusal of all branches, `status` set), `dial_error`, or `media_unavailable` (no leg
 *   could be made). Every leg is closed.
 */
export type BindingsDialed = { kind: 'answered'; binding: Binding; leg: CallLeg; dialog: Srf.Dialog } | { kind: 'failed'; reason: string; status: number | null };

interface Branch extends ForkBranch {
  leg: CallLeg;
}

export async function dialBindings(srf: Srf, signal: AbortSignal, d: BindingsDial, log: Logger): Promise<BindingsDialed> {
  const made = await Promise.all(
    d.bindings.map(async (binding, i): Promise<Branch | null> => {
      try {
        const leg = await d.makeLeg(binding, i);
        return { binding, leg, offer: d.offerOf(leg), abort: new AbortController() };
      } catch (err) {
        log.info({ err: (err as Error).message, contact: binding.contact }, 'binding leg not made');
        return null;
      }
    }),
  );
  const branches = made.filter((b): b is Branch => b !== null);
  const closeAll = (why: string) => branches.forEach((b) => b.leg.close(why));
  if (branches.length === 0) {
    d.onSent?.(null);
    return { kind: 'failed', reason: 'media_unavailable', status: null };
  }
  if (signal.aborted) {
    closeAll('call ended');
    d.onSent?.(null);
    return { kind: 'failed', reason: 'call_ended', status: null };
  }
  const offs = branches.map((b) => b.leg.on('close', () => b.abort.abort()));
  log.info({ bindings: branches.map((b) => b.binding.contact) }, 'ringing every binding of a SIP user');
  const forked = await forkInvite(srf, signal, branches, { ...d, onRinging: (i) => d.onRinging?.(i) }, log);
  offs.forEach((off) => off());
  if (forked.kind === 'failed') {
    closeAll('no binding answered');
    const reason = forked.reason === 'refused' ? `target answered ${forked.status}` : forked.reason;
    return { kind: 'failed', reason, status: forked.status };
  }
  const winner = branches[forked.index]!;
  for (const b of branches) if (b !== winner) b.leg.close('another binding answered');
  return { kind: 'answered', binding: winner.binding, leg: winner.leg, dialog: forked.dialog };
}
