/**
 * Tags that let a benchmark time one RTP frame across processes: a 32-bit number written into a
 * G.711 μ-law frame as eight near-silent samples (μ-law 0xF0-0xFF decode to at most ±120 of
 * 32767, far below speech and below the barge-in detector), followed by eight 0xFF (digital
 * silence) as a signature. mediasoup forwards payloads untouched while it rewrites sequence
 * numbers, timestamps and SSRCs, so the payload is what identifies a frame on both sides.
 */

/** Bytes in a G.711 frame of 20 ms. */
const frameBytes = 160;

/** CLOCK_MONOTONIC in milliseconds: one clock for every process on the machine. */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** A 20 ms μ-law frame of near-silence carrying `tag` (0 .. 2^32-1). */
export function tagFrame(tag: number): Buffer {
  const b = Buffer.alloc(frameBytes, 0xff);
  for (let i = 0; i < 8; i++) b[i] = 0xf0 | ((tag >>> (28 - 4 * i)) & 0x0f);
  return b;
}

/** The tag a frame carries, or null for any other frame (speech, plain silence). */
export function readTag(payload: Buffer): number | null {
  if (payload.length < 16) return null;
  let tag = 0;
  for (let i = 0; i < 8; i++) {
    const v = payload[i]!;
    if ((v & 0xf0) !== 0xf0) return null;
    tag = tag * 16 + (v & 0x0f);
  }
  for (let i = 8; i < 16; i++) if (payload[i] !== 0xff) return null;
  // All 0xFF is plain digital silence, not a tag.
  return tag === 0xffffffff ? null : tag;
}
