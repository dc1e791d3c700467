/** What the main thread and the agent-audio pacing thread (`pacer-worker.ts`) say to each other. */
import type { DtmfTiming } from './dtmf.js';

export type PacerCommand =
  /** A new stream, sending to a PlainTransport at 127.0.0.1:`port`; its RTP clock runs at `clockRate`. */
  | { op: 'open'; id: number; ssrc: number; sequence: number; port: number; payloadType: number; clockRate: number }
  /**
   * 20 ms frames to pace out, back to back: G.711 at 160 bytes each, or Opus packets of the
   * `sizes` given.
   */
  | { op: 'frames'; id: number; frames: Uint8Array; sizes?: number[] }
  /** Drop what is queued (barge-in). */
  | { op: 'clear'; id: number }
  /** The leg's codec changed: audio goes at `payloadType` and `clockRate` from now on; the queue is dropped. */
  | { op: 'codec'; id: number; payloadType: number; clockRate: number }
  | { op: 'dtmf'; id: number; req: number; digits: string; timing: DtmfTiming; payloadType: number }
  | { op: 'close'; id: number };

/** One stream's news from one turn of the thread's loop. */
export interface StreamReport {
  id: number;
  /** Frames received so far that are no longer queued (sent or cleared). */
  consumed: number;
  /**
   * Frames sent this turn: their payloads back to back (in a buffer of their own: a view on a
   * larger one would be cloned whole), the size of each, and the RTP timestamp of each.
   */
  sent: Uint8Array;
  sizes: number[];
  timestamps: number[];
  /** DTMF requests finished this turn. */
  dtmf: { req: number; ok: boolean }[];
}

export type PacerReport =
  | { type: 'ready'; port: number }
  | { type: 'batch'; streams: StreamReport[] }
  /** A command the thread could not carry out: the stream is unusable. */
  | { type: 'failed'; id: number; message: string };
