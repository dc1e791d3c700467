/** What the main thread and the agent-audio pacing thread (`pacer-worker.ts`) say to each other. */
import type { DtmfTiming } from './dtmf.js';

export type PacerCommand =
  /** A new stream, sending to a PlainTransport at 127.0.0.1:`port`. */
  | { op: 'open'; id: number; ssrc: number; sequence: number; port: number; payloadType: number }
  /** G.711 frames to pace out, 160 bytes each, back to back. */
  | { op: 'frames'; id: number; frames: Uint8Array }
  /** Drop what is queued (barge-in). */
  | { op: 'clear'; id: number }
  /** The leg's law changed: audio goes at `payloadType` from now on; the queue is dropped. */
  | { op: 'codec'; id: number; payloadType: number }
  | { op: 'dtmf'; id: number; req: number; digits: string; timing: DtmfTiming; payloadType: number }
  | { op: 'close'; id: number };

/** One stream's news from one turn of the thread's loop. */
export interface StreamReport {
  id: number;
  /** Frames received so far that are no longer queued (sent or cleared). */
  consumed: number;
  /**
   * Frames sent this turn: their payloads back to back (160 bytes each, in a buffer of their own:
   * a view on a larger one would be cloned whole), and the RTP timestamp of each.
   */
  sent: Uint8Array;
  timestamps: number[];
  /** DTMF requests finished this turn. */
  dtmf: { req: number; ok: boolean }[];
}

export type PacerReport =
  | { type: 'ready'; port: number }
  | { type: 'batch'; streams: StreamReport[] }
  /** A command the thread could not carry out: the stream is unusable. */
  | { type: 'failed'; id: number; message: string };
