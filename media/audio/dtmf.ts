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
