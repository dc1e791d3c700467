/**
 * Where each 20 ms frame of one recording channel goes, on wall-clock ticks (tick n is the 20 ms
 * from the recording's start + n * 20 ms); see `recorder.ts` for the rules.
 */

/** 20 ms at 8 kHz. */
export const samplesPerFrame = 160;
/**
 * A frame may arrive this many ticks late and still be placed right after its channel's last
 * (60 ms): the jitter of a loaded event loop, and the 3 frames FramePacer sends at once when it
 * catches up after a late timer.
 */
export const lateTicks = 3;
/** ... and this many ahead of the wall clock before it counts as a burst and is dropped (40 ms). */
export const earlyTicks = 2;
/**
 * How far behind the wall clock a timestamped frame may still be placed (500 ms: the backlog of a
 * long event-loop stall). Ticks are written once they are older than this.
 */
export const backfillTicks = 25;

/** One channel's frames waiting to be written, by tick. */
export class RecordingChannel {
  readonly slots = new Map<number, Int16Array>();
  next = 0;
  dropped = 0;
  /** The last placed frame's tick and RTP timestamp, while frames carry timestamps. */
  #anchor: { slot: number; ts: number } | null = null;

  /** Places a frame that arrived in wall tick `now`; false when dropped. */
  place(pcm: Int16Array, now: number, floor: number, limit: number, timestamp?: number): boolean {
    let slot: number | null = null;
    if (timestamp !== undefined && this.#anchor) {
      // Signed 32-bit distance: RTP timestamps wrap.
      const bySender = this.#anchor.slot + Math.round(((timestamp - this.#anchor.ts) | 0) / samplesPerFrame);
      if (bySender >= now - backfillTicks && bySender <= now + earlyTicks) slot = bySender;
    }
    slot ??= this.next >= now - lateTicks ? this.next : now;
    if (slot < floor || slot > now + earlyTicks || slot >= limit || this.slots.has(slot)) {
      this.dropped++;
      return false;
    }
    this.slots.set(slot, pcm.length === samplesPerFrame ? pcm : fit(pcm));
    this.next = Math.max(this.next, slot + 1);
    this.#anchor = timestamp === undefined ? null : { slot, ts: timestamp };
    return true;
  }
}

/** A frame of any length as exactly 160 samples (cut or padded with silence). */
function fit(pcm: Int16Array): Int16Array {
  const out = new Int16Array(samplesPerFrame);
  out.set(pcm.subarray(0, samplesPerFrame));
  return out;
}

