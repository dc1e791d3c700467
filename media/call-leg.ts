/**
 * A call's media leg, whatever carries it: a `SipLeg` (plain RTP on a PlainTransport) or a
 * `WebRtcLeg` (a browser: ICE-lite, DTLS-SRTP on a WebRtcTransport). Call control and the agent
 * runtime speak to this interface only; `kind` tells the two apart where it matters (narrow with
 * `instanceof`).
 */
import type { types as ms } from 'mediasoup';
import type { LegAudio } from './audio/leg-audio.js';
import type { PacerThread } from './audio/pacer-thread.js';
import type { AudioCodec, Negotiation } from './sdp/index.js';
import type { LegStats } from './sip-leg-types.js';

/** The events every leg emits (a SipLeg also emits `latched`). */
export type CallLegEvents = {
  /** SipLeg: latching | active | closed; WebRtcLeg: connecting | active | disconnected | closed. */
  statechange: [state: string, reason: string];
  /** The peer's audio enters mediasoup through a new Producer. */
  producer: [producer: ms.Producer];
  /** No RTP from the peer for the leg's `inactivityMs` (once per silent spell). */
  inactive: [silentMs: number];
  /** The leg ended: a caller's reason, or one of `legCloseReasons` / `webRtcCloseReasons`. */
  close: [reason: string];
};

export interface CallLeg {
  readonly kind: 'sip' | 'webrtc';
  readonly id: string;
  readonly closed: boolean;
  readonly state: string;
  /** Our answer to the peer's latest offer. */
  readonly answerSdp: string;
  readonly negotiation: Negotiation;
  readonly codec: AudioCodec;
  readonly workerPid: number;
  readonly router: ms.Router;
  readonly pacer: PacerThread;
  /** The Producer carrying the peer's audio, when there is one. */
  readonly producer: ms.Producer | null;
  /** Our offer, for a peer that sent none (its answer goes to `updateRemote`). */
  offerSdp(codecs?: readonly AudioCodec[]): string;
  /** Applies a re-offer (returns our answer) or the answer to our offer. */
  updateRemote(sdp: string): Promise<string>;
  echo(): Promise<void>;
  play(producer: ms.Producer | null): Promise<void>;
  openAudio(): Promise<LegAudio>;
  onProducer(listener: (producer: ms.Producer) => void): () => void;
  /** Resolves once media flows; rejects with `LegClosedError` if the leg closes first. */
  whenActive(): Promise<void>;
  /**
   * The leg's counters. They are asked of the worker when this is called, so a `close()` in the
   * same turn does not lose them (the worker answers in order).
   */
  stats(): Promise<LegStats>;
  close(reason?: string): void;
  on<K extends keyof CallLegEvents>(event: K, listener: (...args: CallLegEvents[K]) => void): () => void;
  once<K extends keyof CallLegEvents>(event: K, listener: (...args: CallLegEvents[K]) => void): () => void;
}
