/**
 * A call recording as it happens: a 16-bit stereo 8 kHz WAV file, the caller on the left channel
 * and the agent on the right, streamed to disk (never held whole in memory), its header's sizes
 * fixed up at close.
 *
 * Alignment is on wall-clock time: tick n is the 20 ms from `start + n * 20 ms`, and each channel
 * keeps a cursor (the next tick it fills).
 * - Frames with an RTP timestamp (what LegAudio gives both ways) follow the sender's clock: a
 *   frame goes `(ts - last ts) / 160` ticks after the channel's last frame, so a burst after an
 *   event-loop stall fills the ticks it belongs to, a pause (the timestamp moved on) stays silent,
 *   and reordered frames fall into place. A frame whose timestamp lands more than `backfillTicks`
 *   behind or `earlyTicks` ahead of the wall clock (a new source, a jump) is placed by arrival.
 * - By arrival: a frame arriving in tick n goes to the cursor when the cursor is at most
 *   `lateTicks` behind n (jitter), else to n (the channel was quiet and resumes at the wall clock).
 * A frame that would land more than `earlyTicks` ahead of the wall clock (a burst, a sender whose
 * clock runs fast), or on a tick already filled, is dropped and counted: a burst never shifts a
 * channel. A tick no frame filled is silence.
 *
 * Ticks `backfillTicks` old can no longer change; they are written once a second, in one
 * asynchronous write. A write that fails (disk full, I/O error) stops the recording: a log line,
 * and `close()` resolves with the error as a value. Nothing here throws into the call.
 */
import fs from 'node:fs/promises';
import type { Logger } from '../../config/logger.js';
import { backfillTicks, RecordingChannel, samplesPerFrame } from './recording-channel.js';
import { writeWavHeader } from './wav.js';

const frameMs = 20;
const sampleRate = 8000;
const channels = 2;
const headerBytes = 44;
/** Bytes of one stereo tick on disk. */
const tickBytes = samplesPerFrame * channels * 2;
/**
 * Unwritten audio allowed to pile up behind a slow disk (10 s, 320 kB) before the recording is
 * stopped rather than grow without bound.
 */
const maxBacklogBytes = 10 * 1000 / frameMs * tickBytes;

export type RecorderState = 'recording' | 'stopped' | 'closed';

/** Legal moves: recording stops (limit, write error) and/or closes, once. */
const moves: Readonly<Record<RecorderState, readonly RecorderState[]>> = {
  recording: ['stopped', 'closed'],
  stopped: ['closed'],
  closed: [],
};

export type RecordingErrorCode = 'disk_full' | 'write_failed' | 'open_failed' | 'disk_too_slow';

/** Why a recording stopped early; a value, never thrown at the call. */
export class RecordingError extends Error {
  constructor(
    readonly code: RecordingErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RecordingError';
  }
}

export type StopReason = 'closed' | 'max_duration' | 'error';

/** What `close()` resolves with. */
export interface RecordingResult {
  /** Audio in the file, in ms (whole 20 ms ticks). */
  durationMs: number;
  /** The file's size, header included (0 when nothing could be written). */
  bytes: number;
  stopReason: StopReason;
  /** Set when the recording stopped on an error; what was written before it is kept. */
  error: RecordingError | null;
  /** Frames dropped for arriving ahead of the wall clock (bursts, a fast sender clock), per channel. */
  dropped: { caller: number; agent: number };
}

export interface RecorderOptions {
  /** The WAV file to create (or replace). */
  file: string;
  /** Recording stops after this long (the agent's maximum call duration). */
  maxDurationMs: number;
  log: Logger;
  /** How often settled audio is written (default 1000 ms). */
  flushMs?: number;
}

export class CallRecorder {
  readonly #opts: Required<RecorderOptions>;
  readonly #t0 = performance.now();
  readonly #caller = new RecordingChannel();
  readonly #agent = new RecordingChannel();
  readonly #maxTicks: number;
  readonly #opened: Promise<fs.FileHandle | null>;
  #state: RecorderState = 'recording';
  #stopReason: StopReason = 'closed';
  #error: RecordingError | null = null;
  /** Ticks handed to the writer so far (all ticks below are final). */
  #cut = 0;
  /** Bytes of audio written to disk, after the header. */
  #written = 0;
  #backlog = 0;
  #writes: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null;
  #closing: Promise<RecordingResult> | null = null;

  private constructor(opts: RecorderOptions) {
    this.#opts = { flushMs: 1000, ...opts };
    this.#maxTicks = Math.floor(opts.maxDurationMs / frameMs);
    this.#opened = this.#open();
    this.#timer = setInterval(() => this.#tick(), this.#opts.flushMs);
    this.#timer.unref();
  }

  /** Starts recording now: tick 0 is this instant. The file is created asynchronously. */
  static start(opts: RecorderOptions): CallRecorder {
    return new CallRecorder(opts);
  }

  get state(): RecorderState {
    return this.#state;
  }

  /** Frames dropped so far for arriving ahead of the wall clock, per channel. */
  get dropped(): { caller: number; agent: number } {
    return { caller: this.#caller.dropped, agent: this.#agent.dropped };
  }

  /** The error that stopped the recording, if one did. */
  get error(): RecordingError | null {
    return this.#error;
  }

  /** What the caller said: one 20 ms frame of 8 kHz PCM (LegAudio `frame`), with its RTP timestamp when known. */
  caller(pcm: Int16Array, timestamp?: number): void {
    this.#place(this.#caller, pcm, timestamp);
  }

  /** What the agent sent: one 20 ms frame of 8 kHz PCM as it was paced out (LegAudio `sent`), with its RTP timestamp. */
  agent(pcm: Int16Array, timestamp?: number): void {
    this.#place(this.#agent, pcm, timestamp);
  }

  /**
   * Writes what is left, fixes up the header and closes the file. Resolves (never rejects) with
   * the duration and size, and the error if the recording stopped on one. Idempotent.
   */
  close(): Promise<RecordingResult> {
    return (this.#closing ??= this.#close());
  }

  /** The periodic write, and the duration limit when no frame comes to notice it. */
  #tick(): void {
    if (this.#tickNow() >= this.#maxTicks) this.#stop('max_duration');
    else this.#flush(false);
  }

  #tickNow(): number {
    return Math.floor((performance.now() - this.#t0) / frameMs);
  }

  #place(ch: RecordingChannel, pcm: Int16Array, timestamp: number | undefined): void {
    if (this.#state !== 'recording') return;
    const now = this.#tickNow();
    if (now >= this.#maxTicks) {
      this.#stop('max_duration');
      return;
    }
    ch.place(pcm, now, this.#cut, this.#maxTicks, timestamp);
  }

  #move(to: RecorderState): boolean {
    if (!moves[this.#state].includes(to)) return false;
    this.#state = to;
    return true;
  }

  /** Stops taking audio: what is settled is written, the file is finalised at `close()`. */
  #stop(reason: StopReason, error?: RecordingError): void {
    if (error && !this.#error) {
      // Kept even when closing already began: `close()` reports it.
      this.#error = error;
      this.#opts.log.error({ file: this.#opts.file, code: error.code, err: error }, 'recording stopped on an error');
    }
    if (!this.#move('stopped')) return;
    this.#stopReason = reason;
    if (!error) {
      this.#opts.log.info({ file: this.#opts.file, reason }, 'recording stopped');
      if (reason === 'max_duration') this.#flush(true);
    }
    this.#clearTimer();
  }

  #clearTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  async #open(): Promise<fs.FileHandle | null> {
    let fh: fs.FileHandle | null = null;
    try {
      fh = await fs.open(this.#opts.file, 'w', 0o600);
      // The header with sizes 0 ("streamed") until close: a reader takes the data to the end.
      const header = Buffer.alloc(headerBytes);
      writeWavHeader(header, sampleRate, channels, 0);
      await fh.write(header, 0, headerBytes, 0);
      return fh;
    } catch (e) {
      await fh?.close().catch(() => {});
      const code = (e as NodeJS.ErrnoException).code === 'ENOSPC' ? 'disk_full' : 'open_failed';
      this.#stop('error', new RecordingError(code, `cannot create the recording: ${(e as Error).message}`));
      return null;
    }
  }

  /**
   * Hands every settled tick (or, at the end, every tick up to now) to the writer as one buffer
   * of interleaved samples, then drops them from memory.
   */
  #flush(final: boolean): void {
    if (this.#error) return;
    const now = Math.min(this.#tickNow(), this.#maxTicks);
    // At the end, frames placed just ahead of the wall clock are kept too (at most earlyTicks).
    const last = Math.min(Math.max(this.#caller.next, this.#agent.next), this.#maxTicks);
    const end = final ? Math.max(now, last) : Math.max(this.#cut, now - backfillTicks);
    if (end <= this.#cut) return;
    const out = Buffer.alloc((end - this.#cut) * tickBytes);
    for (let tick = this.#cut, at = 0; tick < end; tick++, at += tickBytes) {
      const left = this.#caller.slots.get(tick);
      const right = this.#agent.slots.get(tick);
      this.#caller.slots.delete(tick);
      this.#agent.slots.delete(tick);
      if (!left && !right) continue; // Buffer.alloc is already silence
      for (let i = 0; i < samplesPerFrame; i++) {
        out.writeInt16LE(left?.[i] ?? 0, at + i * 4);
        out.writeInt16LE(right?.[i] ?? 0, at + i * 4 + 2);
      }
    }
    this.#cut = end;
    if (this.#backlog + out.length > maxBacklogBytes) {
      this.#stop('error', new RecordingError('disk_too_slow', `more than ${maxBacklogBytes} bytes waiting for the disk`));
      return;
    }
    this.#backlog += out.length;
    this.#writes = this.#writes.then(() => this.#write(out));
  }

  async #write(buf: Buffer): Promise<void> {
    this.#backlog -= buf.length;
    if (this.#error) return;
    const fh = await this.#opened;
    if (!fh) return;
    try {
      let done = 0;
      while (done < buf.length) {
        const { bytesWritten } = await fh.write(buf, done, buf.length - done, headerBytes + this.#written);
        done += bytesWritten;
        this.#written += bytesWritten;
      }
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      this.#stop('error', new RecordingError(err.code === 'ENOSPC' ? 'disk_full' : 'write_failed', `cannot write the recording: ${err.message}`));
    }
  }

  async #close(): Promise<RecordingResult> {
    if (this.#state === 'recording') this.#flush(true);
    this.#clearTimer();
    this.#move('closed');
    await this.#writes;
    const fh = await this.#opened;
    // Whole ticks only: a failed write may have left part of one.
    const data = this.#written - (this.#written % tickBytes);
    let bytes = 0;
    if (fh) {
      try {
        const header = Buffer.alloc(headerBytes);
        writeWavHeader(header, sampleRate, channels, data);
        await fh.write(header, 0, headerBytes, 0);
        if (data !== this.#written) await fh.truncate(headerBytes + data);
        await fh.datasync();
        bytes = headerBytes + data;
      } catch (e) {
        this.#error ??= new RecordingError('write_failed', `cannot finalise the recording: ${(e as Error).message}`);
        this.#stopReason = 'error';
        this.#opts.log.error({ file: this.#opts.file, err: e }, 'recording could not be finalised');
      }
      await fh.close().catch((e: unknown) => this.#opts.log.warn({ file: this.#opts.file, err: e }, 'recording file close failed'));
    }
    const result: RecordingResult = {
      durationMs: (data / tickBytes) * frameMs,
      bytes,
      stopReason: this.#error ? 'error' : this.#stopReason,
      error: this.#error,
      dropped: this.dropped,
    };
    this.#caller.slots.clear();
    this.#agent.slots.clear();
    this.#opts.log.info({ file: this.#opts.file, durationMs: result.durationMs, bytes, stopReason: result.stopReason, dropped: result.dropped }, 'recording closed');
    return result;
  }
}
