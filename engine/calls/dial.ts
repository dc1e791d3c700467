/**
 * The engine's own INVITE (RFC 3261 §13.2, UAC side) on drachtio-srf's `createUAC`, shared by
 * the transfer bridge (transfer-bridge.ts) and outbound calls (outbound-steps.ts): the offer of
 * a media leg, digest answers to 401 and 407 with the target's credentials (drachtio-srf's
 * digest client), the caller id as the From user, `X-` headers, a ring timeout that CANCELs
 * (RFC 3261 §9.1), and a CANCEL as soon as `signal` aborts (the call ended first). Never throws:
 * every way it ends is a `Dialed`.
 */
import type Srf from 'drachtio-srf';
import type { Logger } from '../../config/logger.js';
import { destroyDialog } from './in-dialog.js';
import type { ResolvedTarget } from './transfer-target.js';

export interface DialRequest {
  /** Our SDP offer (the leg's `offerSdp`). */
  offer: string;
  target: ResolvedTarget;
  /** An unanswered INVITE is CANCELed after this long. */
  ringMs: number;
  /** The From user of the INVITE; drachtio's default From when null. */
  callingNumber: string | null;
  /** Extra headers of the INVITE (outbound calls' `X-` headers). */
  headers?: Record<string, string>;
  /** Runs when the INVITE has left (drachtio-srf's request callback), with its Call-ID. */
  onSent?: (sipCallId: string) => void;
  /** Each provisional response (180, 183; its body is early-media SDP when present). */
  onProvisional?: (res: { status: number; body: string }) => void;
}

/**
 * - `answered`: a 2xx; the dialog is ours (BYE it when done).
 * - `failed`: `no_answer` (ring timeout, CANCELed), `call_ended` (signal aborted, CANCELed),
 *   `target answered <status>` (a final refusal; `status` is it), `dial_error` (no final at all).
 */
export type Dialed = { kind: 'answered'; dialog: Srf.Dialog } | { kind: 'failed'; reason: string; status: number | null };

export async function dial(srf: Srf, signal: AbortSignal, r: DialRequest, log: Logger): Promise<Dialed> {
  let invite: Srf.SrfRequest | null = null;
  let canceled: 'no_answer' | 'call_ended' | null = null;
  const cancel = (why: 'no_answer' | 'call_ended') => {
    if (canceled) return;
    canceled = why;
    // A CANCEL for an INVITE already answered is answered 481/200 and changes nothing: the
    // dialog that comes back is hung up below.
    invite?.cancel(() => undefined);
  };
  const ring = setTimeout(() => cancel('no_answer'), r.ringMs);
  const onAbort = () => cancel('call_ended');
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  const uacOpts = {
    localSdp: r.offer,
    ...(r.target.auth ? { auth: r.target.auth } : {}),
    ...(r.callingNumber ? { callingNumber: r.callingNumber } : {}),
    ...(r.headers && Object.keys(r.headers).length ? { headers: { ...r.headers } } : {}),
  };
  // drachtio-srf calls cbRequest with (err, req); its typings say (req).
  const onRequest = ((err: unknown, req: Srf.SrfRequest) => {
    if (err || !req) return;
    invite = req;
    try {
      r.onSent?.(req.get('Call-ID'));
    } catch (e) {
      // In drachtio-srf's socket callback: nothing may escape from here.
      log.error({ err: e }, 'INVITE sent handler threw');
    }
    if (canceled) req.cancel(() => undefined);
  }) as unknown as (req: Srf.SrfRequest) => void;
  const onProvisional = (res: Srf.SrfResponse & { status?: number; body?: string }) => {
    if (canceled || !r.onProvisional) return;
    try {
      r.onProvisional({ status: Number(res.status), body: typeof res.body === 'string' ? res.body : '' });
    } catch (err) {
      log.error({ err }, 'provisional handler threw');
    }
  };
  try {
    const dialog = await srf.createUAC(r.target.uri, uacOpts, { cbRequest: onRequest, cbProvisional: onProvisional });
    if (canceled) {
      destroyDialog(dialog, log);
      return { kind: 'failed', reason: canceled, status: null };
    }
    log.info({ target: r.target.uri }, 'dialled target answered');
    return { kind: 'answered', dialog };
  } catch (err) {
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : null;
    const reason = canceled ?? (status ? `target answered ${status}` : 'dial_error');
    log.info({ target: r.target.uri, status, err: status ? undefined : (err as Error).message }, 'dialled target not reached');
    return { kind: 'failed', reason, status: canceled ? null : status };
  } finally {
    clearTimeout(ring);
    signal.removeEventListener('abort', onAbort);
  }
}
