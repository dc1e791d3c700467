/**
 * Sends queued audio frames one per `frameMs`, on a clock that does not drift: each frame is due
 * at `start + n * frameMs`, and a late timer catches up rather than slipping. An empty queue
 * ends the talkspurt; the next frame starts a new one (RTP marker bit, RFC 3551 §4.1).
 */

export interface PacedFrame {
  payload: Buffer;
  /** First frame of a talkspurt. */
  marker: boolean;
  /** RTP timestamp, in samples: continuous within a talkspurt, advanced by wall time across silences. */
  timestamp: number;
}

/** Frames sent at once after a stall before the clock is reset instead (60 ms of catch-up). */
const maxCatchUp = 3;

export class FramePacer {
  readonly #queue: Buffer[] = [];
  #timer: NodeJS.Timeout | null = null;
  #inSpurt = false;
  #spurtStart = 0;
  #sentInSpurt = 0;
  #timestamp: number;
  #lastSentAt = 0;
  #closed = false;

  constructor(
    private readonly send: (frame: PacedFrame) => void,
    private readonly frameMs = 20,
    private readonly samplesPerFrame = 160,
  ) {
    this.#timestamp = Math.floor(Math.random() * 2 ** 32);
  }

  /** Queued frames not yet sent. */
  get queued(): number {
    return this.#queue.length;
  }

  push(payload: Buffer): void {
    if (this.#closed) return;
    this.#queue.push(payload);
    if (!this.#inSpurt) this.#startSpurt();
  }

  /** Drops what is queued (barge-in). */
  clear(): void {
    this.#queue.length = 0;
  }

  close(): void {
    this.#closed = true;
    this.#inSpurt = false;
    this.clear();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #startSpurt(): void {
    const now = performance.now();
    if (this.#lastSentAt) {
      // Silence advances the timestamp by the time that passed, in whole frames (the last
      // frame's own duration is already counted).
      const silentFrames = Math.max(0, Math.round((now - this.#lastSentAt) / this.frameMs) - 1);
      this.#timestamp = (this.#timestamp + silentFrames * this.samplesPerFrame) >>> 0;
    }
    this.#inSpurt = true;
    this.#spurtStart = now;
    this.#sentInSpurt = 0;
    this.#tick();
  }

  #tick(): void {
    this.#timer = null;
    if (this.#closed) return;
    const now = performance.now();
    let due = Math.floor((now - this.#spurtStart) / this.frameMs) + 1 - this.#sentInSpurt;
    if (due > maxCatchUp) {
      // The event loop stalled: restart the clock rather than burst.
      this.#spurtStart = now - this.#sentInSpurt * this.frameMs;
      due = 1;
    }
    for (; due > 0; due--) {
      const payload = this.#queue.shift();
      if (!payload) {
        // A frame slot with nothing to send: the talkspurt is over.
        this.#inSpurt = false;
        return;
      }
      this.send({ payload, marker: this.#sentInSpurt === 0, timestamp: this.#timestamp });
      this.#timestamp = (this.#timestamp + this.samplesPerFrame) >>> 0;
      this.#sentInSpurt++;
      this.#lastSentAt = now;
    }
    const next = this.#spurtStart + this.#sentInSpurt * this.frameMs;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, next - performance.now()));
  }
}
