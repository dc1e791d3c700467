/**
 * DTMF that a caller sends in SIP INFO requests, the way gateways do when they cannot (or are
 * told not to) send RFC 4733 events: `application/dtmf-relay` (`Signal=5` / `Duration=160`
 * lines, the Cisco format) or `application/dtmf` (the digit alone). Neither has an RFC; the
 * reading here is what Asterisk's res_pjsip_dtmf_info accepts: keys case-insensitive, lines
 * ended by CRLF, LF or CR, lines without `=` skipped, digits 0-9 * # A-D (a-d), `!` for flash,
 * or the RFC 4733 event number (10 = *, 11 = #, 12-15 = A-D, 16 = flash).
 *
 * Answers:
 * - a DTMF body with a digit: 200, and the digit is emitted as the call's `dtmf` event;
 * - a DTMF content type with no body: 200 and nothing reported (Asterisk answers these 200 too:
 *   an empty INFO is used as a dialog keep-alive);
 * - a DTMF body without a usable digit: 400 Bad Request with a Warning naming what is wrong.
 *   RFC 3261 §21.4.1: 400 is for a request the server could not understand because of
 *   malformed syntax, which puts the fault with the sender. Asterisk answers 500 here, which
 *   tells the sender our server failed; ignoring it with 200 (the other common answer) tells
 *   the sender a key press was taken when it was lost. A 4xx lets the gateway log it, or retry
 *   the digit in RTP;
 * - any other INFO: whatever the dialog answers other INFO with (`fallback`).
 */
import type Srf from 'drachtio-srf';
import { z } from 'zod';
import type { LegAudio } from '../../media/audio/leg-audio.js';
import type { Call, CallDtmf } from './call.js';

/** What an INFO request's body says about DTMF. */
export type InfoDtmf =
  | { kind: 'digit'; digit: string; durationMs: number | null }
  | { kind: 'empty' }
  | { kind: 'malformed'; reason: string }
  | { kind: 'other' };

/** Longer bodies are not DTMF (a real one is under 30 bytes): refused before any parsing. */
const maxBodyChars = 1024;

const namedDigits = ['*', '#', 'A', 'B', 'C', 'D', 'flash'] as const;

/** A signal: one key, `!` (flash), or an RFC 4733 event number 0-16. */
const signal = z
  .string()
  .trim()
  .regex(/^(?:[0-9*#A-Da-d!]|1[0-6])$/, 'Signal must be one of 0-9 * # A-D ! or an event number 10-16')
  .transform((s) => {
    if (s === '!') return 'flash';
    if (/^1[0-6]$/.test(s)) return namedDigits[Number(s) - 10]!;
    return s.toUpperCase();
  });

/** Duration in ms: a whole number; anything else is dropped (the key press still counts). */
const duration = z
  .string()
  .trim()
  .regex(/^\d{1,6}$/)
  .transform(Number)
  .nullable()
  .catch(null);

const relayFields = z.object({ signal, duration: duration.optional().transform((d) => d ?? null) });

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Reads an INFO body; never throws. */
export function parseDtmfInfo(contentType: string | undefined, body: string | undefined): InfoDtmf {
  const type = mediaType(contentType);
  if (type !== 'application/dtmf-relay' && type !== 'application/dtmf') return { kind: 'other' };
  const text = body ?? '';
  if (!text.trim()) return { kind: 'empty' };
  if (text.length > maxBodyChars) return { kind: 'malformed', reason: `DTMF body longer than ${maxBodyChars} characters` };
  if (type === 'application/dtmf') {
    const one = signal.safeParse(text);
    return one.success ? { kind: 'digit', digit: one.data, durationMs: null } : { kind: 'malformed', reason: 'application/dtmf body is not one DTMF digit' };
  }
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r\n|\n|\r/)) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim().toLowerCase();
    if ((key === 'signal' || key === 'duration') && !(key in fields)) fields[key] = line.slice(eq + 1);
  }
  if (fields.signal === undefined) return { kind: 'malformed', reason: 'dtmf-relay body has no Signal' };
  const parsed = relayFields.safeParse(fields);
  if (!parsed.success) return { kind: 'malformed', reason: 'dtmf-relay Signal is not a DTMF digit' };
  return { kind: 'digit', digit: parsed.data.signal, durationMs: parsed.data.duration };
}

type Handler = (req: Srf.SrfRequest, res: Srf.SrfResponse) => void;

/**
 * The dialog's INFO handler: DTMF bodies are answered here and reported on `call` (`dtmf`, source
 * `info`); everything else goes to `fallback`. The digit itself is not logged (callers key in
 * PINs and card numbers).
 */
export function dtmfInfoHandler(call: Call, fallback: Handler): Handler {
  return (req, res) => {
    const r = parseDtmfInfo(req.get('Content-Type'), typeof req.body === 'string' ? req.body : undefined);
    if (r.kind === 'other') return fallback(req, res);
    if (r.kind === 'malformed') {
      call.log.info({ reason: r.reason }, 'DTMF INFO refused');
      res.send(400, { headers: { Warning: `399 agent-studio "${r.reason}"` } });
      return;
    }
    res.send(200);
    if (r.kind === 'empty') return;
    const dtmf: CallDtmf = { digit: r.digit, durationMs: r.durationMs, source: 'info' };
    call.log.debug({ source: 'info', durationMs: r.durationMs }, 'DTMF received');
    call.emit('dtmf', dtmf);
  };
}

/**
 * Reports the caller's RFC 4733 key presses, as the leg's audio seam decodes them, on `call`'s
 * `dtmf` event (source `rfc4733`), so whoever listens has one DTMF stream whichever way the keys
 * came. Returns the unsubscribe; it ends with the seam.
 */
export function reportRfc4733(call: Call, audio: LegAudio): () => void {
  return audio.on('dtmf', (d) => {
    call.log.debug({ source: 'rfc4733', durationMs: d.durationMs }, 'DTMF received');
    call.emit('dtmf', { digit: d.digit, durationMs: d.durationMs, source: 'rfc4733' });
  });
}
