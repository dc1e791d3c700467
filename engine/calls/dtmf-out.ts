/**
 * DTMF to a caller, the one place that picks the way: RFC 4733 events on the agent's RTP stream
 * when the leg negotiated telephone-event at a type we can send and the agent's audio seam is
 * open (`LegAudio.sendDtmf`), SIP INFO in the dialog otherwise (`application/dtmf-relay`, the
 * body gateways have understood since Cisco defined it: `Signal=5` CRLF `Duration=100` CRLF).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type Srf from 'drachtio-srf';
import { assertDtmfDigits, checkDtmfTiming, defaultDtmfTiming, type DtmfTiming } from '../../media/audio/dtmf.js';
import type { LegAudio } from '../../media/audio/leg-audio.js';
import type { Call } from './call.js';

export type DtmfRoute = 'rfc4733' | 'info';

/**
 * Sending DTMF by INFO failed: no dialog, the peer refused a digit (`status` 4xx-6xx), no answer
 * within `timeoutMs` (`status` 408), or the call ended. `sent` digits had been taken before.
 */
export class DtmfSendError extends Error {
  readonly code = 'dtmf_send_failed';
  constructor(
    message: string,
    readonly status: number | null,
    readonly sent: number,
  ) {
    super(message);
    this.name = 'DtmfSendError';
  }
}

export interface SendDtmfOptions extends Partial<DtmfTiming> {
  /**
   * How long to wait for the answer to one INFO: RFC 3261 Timer F, 64*T1 = 32 s with the default
   * T1, after which a non-INVITE transaction has failed anyway.
   */
  infoTimeoutMs?: number;
}

/** The way DTMF reaches this call's peer now. */
export function dtmfRoute(audio?: LegAudio): DtmfRoute {
  return audio && !audio.closed && audio.dtmfPayloadType !== null ? 'rfc4733' : 'info';
}

/**
 * Sends `digits` (0-9, *, #, A-D) to the caller and resolves with the way they went, once the
 * last one is out (RFC 4733: its end packets sent; INFO: its 200 received). INFO digits go one
 * at a time, each after the previous one's 200 and no sooner than `toneMs + gapMs` after it was
 * sent, so both ways keep the same cadence. RFC 4733 digits wait for the leg to be active.
 * Rejects with `InvalidDtmfError` or `RangeError`
 * before sending anything, with `DtmfSendError` when INFO fails, and with `LegClosedError` when
 * the audio seam closes mid-way.
 */
export async function sendDtmf(call: Call, digits: string, audio?: LegAudio, opts: SendDtmfOptions = {}): Promise<DtmfRoute> {
  assertDtmfDigits(digits);
  const timing = checkDtmfTiming({ toneMs: opts.toneMs ?? defaultDtmfTiming.toneMs, gapMs: opts.gapMs ?? defaultDtmfTiming.gapMs });
  const route = dtmfRoute(audio);
  call.log.debug({ route, digits: digits.length }, 'sending DTMF');
  if (route === 'rfc4733') {
    // Events sent while the leg still waits for the caller's first RTP would go nowhere; once
    // the seam plays, the leg is active within its latch timeout (it then sends to the SDP's
    // address). Rejects with LegClosedError if the leg closes first.
    await call.parts.leg?.whenActive();
    await audio!.sendDtmf(digits, timing);
  }
  else await sendInfo(call, digits, timing, opts.infoTimeoutMs ?? 32_000);
  return route;
}

async function sendInfo(call: Call, digits: string, timing: DtmfTiming, timeoutMs: number): Promise<void> {
  const dialog = call.parts.dialog;
  if (!dialog || call.ended) throw new DtmfSendError('the call has no dialog to send INFO in', null, 0);
  const signal = call.signal;
  let nextAt = performance.now();
  for (const [i, digit] of [...digits].entries()) {
    const wait = nextAt - performance.now();
    if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
    if (signal.aborted) throw new DtmfSendError('the call ended', null, i);
    nextAt = performance.now() + timing.toneMs + timing.gapMs;
    const status = await infoOnce(dialog, `Signal=${digit}\r\nDuration=${timing.toneMs}\r\n`, timeoutMs, signal);
    if (status === 'ended') throw new DtmfSendError('the call ended', null, i);
    if (status === 'error') throw new DtmfSendError('INFO could not be sent in the dialog', null, i);
    if (status < 200 || status >= 300) {
      call.log.info({ status, sent: i }, 'DTMF INFO refused');
      throw new DtmfSendError(`INFO for digit ${i + 1} of ${digits.length} answered ${status}`, status, i);
    }
  }
}

/** One INFO's final status: 408 when none came in time, `ended` when the call ended first. */
function infoOnce(dialog: Srf.Dialog, body: string, timeoutMs: number, signal: AbortSignal): Promise<number | 'ended' | 'error'> {
  return new Promise((resolve) => {
    const done = (status: number | 'ended' | 'error') => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(status);
    };
    const onAbort = () => done('ended');
    const timer = setTimeout(() => done(408), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    const opts = { method: 'INFO', headers: { 'Content-Type': 'application/dtmf-relay' }, body };
    // drachtio-srf's typings describe the options as a request; it takes { method, headers, body }.
    dialog.request(opts as unknown as Srf.SrfRequest).then(
      (res) => done(res.status),
      () => done(signal.aborted ? 'ended' : 'error'),
    );
  });
}
