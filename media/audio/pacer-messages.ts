/** What the main thread and the agent-audio thread (`pacer-worker.ts`) say to each other. */
import type { DtmfTiming } from './dtmf.js';

export type PacerCommand =
  /**
   * A new stream on the PlainTransport at 127.0.0.1:`port`: the thread sends the agent's RTP to it
   * (its clock at `clockRate`) and passes on what arrives from it (the peer's audio).
   */
  | { op: 'open'; id: number; ssrc: number; sequence: number; port: number; payloadType: number; clockRate: number }
  /**
   * 20 ms frames to pace out, back to back: G.711 at 160 bytes each, or Opus packets of the
   * `sizes` given.
   */
  | { op: 'frames'; id: number; frames: Uint8Array; sizes?: number[] }
  /** Drop what is queued (barge-in). */
  | { op: 'clear'; id: number }
  /**
   * Send nothing for now, keeping the queue (the caller may be starting to talk over the agent),
   * until `release` or `clear`, or at most `ms` (capped at 1 s).
   */
  | { op: 'hold'; id: number; ms: number }
  | { op: 'release'; id: number }
  /** The leg's codec changed: audio goes at `payloadType` and `clockRate` from now on; the queue is dropped. */
  | { op: 'codec'; id: number; payloadType: number; clockRate: number }
  | { op: 'dtmf'; id: number; req: number; digits: string; timing: DtmfTiming; payloadType: number }
  | { op: 'close'; id: number };

export type PacerReport =
  /** Started; `priorityError` when the thread could not raise its scheduling priority (it runs at the process's). */
  | { type: 'ready'; port: number; priorityError?: string }
  /** Every stream's news since the last batch, as `pacer-batch.ts` writes it. */
  | { type: 'batch'; bytes: Uint8Array }
  /** A command the thread could not carry out: the stream is unusable. */
  | { type: 'failed'; id: number; message: string };
