/** RFC 4733 named telephone events: the DTMF digits and flash a phone sends in-band as RTP. */

/** RFC 4733 §3.2, table 1: event codes 0-16. */
const eventNames = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D', 'flash'] as const;
export type DtmfDigit = (typeof eventNames)[number];

interface TelephoneEventPayload {
  event: number;
  /** E bit: the last packets of an event carry it (sent three times, RFC 4733 §2.5.1.4). */
  end: boolean;
  /** Power level, 0 to -63 dBm0, as its magnitude. */
  volume: number;
  /** In timestamp units (1/8000 s at 8 kHz). */
  duration: number;
}

/** RFC 4733 §2.3: event (8 bits), E, R, volume (6 bits), duration (16 bits). */
function readTelephoneEvent(payload: Uint8Array): TelephoneEventPayload | null {
  if (payload.length < 4) return null;
  return {
    event: payload[0]!,
    end: (payload[1]! & 0x80) !== 0,
    volume: payload[1]! & 0x3f,
    duration: (payload[2]! << 8) | payload[3]!,
  };
}

function digitOf(event: number): DtmfDigit | null {
  return eventNames[event] ?? null;
}

export interface Dtmf {
  digit: DtmfDigit;
  durationMs: number;
  volume: number;
}

/**
 * Turns a stream of event packets into one `Dtmf` per key press: reported at the first packet
 * with the E bit, keyed by the RTP timestamp (all packets of one event share it, RFC 4733
 * §2.5.1.2), so the end packet's retransmissions are not reported again.
 */
export class DtmfReceiver {
  #lastReported: number | null = null;

  receive(timestamp: number, payload: Uint8Array): Dtmf | null {
    const e = readTelephoneEvent(payload);
    if (!e || !e.end || timestamp === this.#lastReported) return null;
    const digit = digitOf(e.event);
    if (!digit) return null;
    this.#lastReported = timestamp;
    return { digit, durationMs: e.duration / 8, volume: e.volume };
  }
}

// --- Sending ----------------------------------------------------------------------------------

/** The digits that can be sent: RFC 4733 events 0-15 (flash is not a key a caller can press). */
const sendable = /^[0-9*#A-D]*$/;

/** A digit string with something other than 0-9, *, #, A-D in it, or none at all. */
export class InvalidDtmfError extends Error {
  readonly code = 'invalid_dtmf';
  constructor(readonly digits: string) {
    super(`DTMF digits must be 0-9, *, # or A-D (at least one); got ${JSON.stringify(digits.slice(0, 40))}`);
    this.name = 'InvalidDtmfError';
  }
}

/** The peer cannot take RFC 4733 events from us (none negotiated, or at a type we cannot carry). */
export class DtmfNotNegotiatedError extends Error {
  readonly code = 'dtmf_not_negotiated';
  constructor() {
    super('the peer did not negotiate telephone-event at a payload type we can send (use SIP INFO)');
    this.name = 'DtmfNotNegotiatedError';
  }
}

/** Digits in one request: a long string is a mistake (or a way to hold the line), not dialling. */
export const maxDigits = 64;

/** Checks a digit string to send; throws `InvalidDtmfError`. */
export function assertDtmfDigits(digits: string): void {
  if (typeof digits !== 'string' || digits.length === 0 || digits.length > maxDigits || !sendable.test(digits)) throw new InvalidDtmfError(String(digits));
}

export interface DtmfTiming {
  /** How long each key is held, ms. */
  toneMs: number;
  /** Silence between the end of one key and the start of the next, ms. */
  gapMs: number;
}

/**
 * 100 ms tone, 70 ms gap: above ITU-T Q.24's minimum (40 ms tone, 40 ms pause) with margin for
 * jitter, and the cadence of common gateways (Asterisk and FreeSWITCH default to 100 ms digits).
 */
export const defaultDtmfTiming: DtmfTiming = { toneMs: 100, gapMs: 70 };

/**
 * Bounds of `DtmfTiming`: a tone of at least two packets (Q.24's 40 ms) and at most 5 s (well
 * inside the 16-bit duration field, 8.19 s at 8 kHz, so no event needs segments, RFC 4733
 * §2.5.1.3); a gap longer than the end packets' two retransmissions (2 x 20 ms).
 */
export const dtmfTimingBounds = { toneMs: [40, 5000], gapMs: [41, 5000] } as const;

export function checkDtmfTiming(t: DtmfTiming): DtmfTiming {
  for (const k of ['toneMs', 'gapMs'] as const) {
    const [min, max] = dtmfTimingBounds[k];
    if (!Number.isInteger(t[k]) || t[k] < min || t[k] > max) throw new RangeError(`DTMF ${k} must be an integer from ${min} to ${max}, got ${t[k]}`);
  }
  return t;
}

/** One packet of an outgoing event, `atMs` after the event starts. */
export interface EventPacket {
  atMs: number;
  /** RFC 4733 §2.5.1.1: the first packet of an event carries the marker bit. */
  marker: boolean;
  end: boolean;
  /** The 4-byte telephone-event payload. */
  payload: Buffer;
}

/** RFC 4733 §2.3.4: volume, as -dBm0; 10 is what phones send (-10 dBm0). */
const eventVolume = 10;

/** RFC 4733 §2.3: event, E|R|volume, duration (16 bits, in timestamp units). */
export function writeTelephoneEvent(event: number, end: boolean, durationSamples: number): Buffer {
  return Buffer.from([event, (end ? 0x80 : 0) | eventVolume, (durationSamples >> 8) & 0xff, durationSamples & 0xff]);
}

/**
 * The packets of one key press at an 8 kHz clock, one every `intervalMs` (the stream's packet
 * time), all sharing the event's RTP timestamp (RFC 4733 §2.5.1.2, set by the sender). Each
 * carries the duration so far, counting the interval it stands for (as audio frames do); the
 * one that reaches `toneMs` has the E bit and the whole duration, and is sent three times at the
 * update interval (§2.5.1.4: "the final packet for each event ... SHOULD be sent a total of three
 * times").
 */
export function eventPackets(digit: string, toneMs: number, intervalMs = 20): EventPacket[] {
  const event = eventNames.indexOf(digit as DtmfDigit);
  if (event < 0 || event > 15) throw new InvalidDtmfError(digit);
  const out: EventPacket[] = [];
  for (let k = 0; ; k++) {
    const coveredMs = Math.min((k + 1) * intervalMs, toneMs);
    const end = coveredMs >= toneMs;
    out.push({ atMs: k * intervalMs, marker: k === 0, end, payload: writeTelephoneEvent(event, end, coveredMs * 8) });
    if (!end) continue;
    for (let r = 1; r <= 2; r++) out.push({ atMs: (k + r) * intervalMs, marker: false, end: true, payload: writeTelephoneEvent(event, true, toneMs * 8) });
    return out;
  }
}
