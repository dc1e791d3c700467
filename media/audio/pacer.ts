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

/**
 * Why the pacer is holding its frames: RFC 4733 events have the stream (`events`), or the caller
 * may be starting to talk over the agent (`onset`). It sends again once no reason is left.
 */
export type PauseReason = 'events' | 'onset';

/** Frames sent at once after a stall before the clock is reset instead (60 ms of catch-up). */
const maxCatchUp = 3;

export class FramePacer {
  readonly #queue: Buffer[] = [];
  #timer: NodeJS.Timeout | null = null;
  #inSpurt = false;
  #spurtStart = 0;
  #sentInSpurt = 0;
  /** The timestamp of the next frame, and the wall time it stands for (0: nothing sent yet). */
  #timestamp: number;
  #clockAt = 0;
  readonly #paused = new Set<PauseReason>();
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
    if (!this.#inSpurt && !this.#paused.size) this.#startSpurt();
  }

  /** Whether the pacer holds its frames, for any reason. */
  get paused(): boolean {
    return this.#paused.size > 0;
  }

  /**
   * Stops sending for `reason`; what is queued waits, and once every reason is resumed it goes
   * out as a new talkspurt (the timestamp advanced by the pause).
   */
  pause(reason: PauseReason): void {
    this.#paused.add(reason);
    this.#inSpurt = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Ends the pause for `reason` (nothing when it was not paused for it). */
  resume(reason: PauseReason): void {
    if (!this.#paused.delete(reason) || this.#paused.size || this.#closed) return;
    if (this.#queue.length) this.#startSpurt();
  }

  /**
   * The stream's RTP timestamp for wall time `now`, to the sample: the next frame's timestamp
   * advanced by the time since it became due. Never behind a frame already sent.
   */
  clock(now: number): number {
    if (!this.#clockAt) return this.#timestamp;
    const ahead = Math.max(0, Math.round(((now - this.#clockAt) * this.samplesPerFrame) / this.frameMs));
    return (this.#timestamp + ahead) >>> 0;
  }

  /**
   * Records that the stream carried something else (events) up to `timestamp`, which stands for
   * wall time `at`: the next talkspurt continues the clock from there.
   */
  advance(timestamp: number, at: number): void {
    this.#timestamp = timestamp >>> 0;
    this.#clockAt = at;
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
    if (this.#clockAt) {
      // Silence advances the timestamp by the time that passed, in whole frames.
      const silentFrames = Math.max(0, Math.round((now - this.#clockAt) / this.frameMs));
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
      this.#clockAt = now + this.frameMs;
    }
    const next = this.#spurtStart + this.#sentInSpurt * this.frameMs;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, next - performance.now()));
  }
}
