/** The shapes around a WebRtcLeg: its states and their legal moves, close reasons, events and inputs. */
import type { types as ms } from 'mediasoup';
import type { Logger } from '../config/logger.js';
import type { PacerThread } from './audio/pacer-thread.js';
import type { CodecPreference, Direction, OfferOutcome } from './sdp/index.js';
import { legCloseReasons } from './sip-leg-types.js';

/**
 * connecting: ICE and DTLS not yet up (or, as the offerer, no answer yet); active: DTLS connected,
 * media flows; disconnected: ICE lost the peer (or its consent checks stopped) and has
 * `disconnectGraceMs` to come back.
 */
export type WebRtcLegState = 'connecting' | 'active' | 'disconnected' | 'closed';

/** Legal moves; anything else is a bug and is refused. */
export const webRtcLegalMoves: Record<WebRtcLegState, readonly WebRtcLegState[]> = {
  connecting: ['active', 'closed'],
  active: ['disconnected', 'closed'],
  disconnected: ['active', 'closed'],
  closed: [],
};

/** Close reasons a WebRtcLeg gives itself, on top of every leg's (`media_worker_died`, ...). */
export const webRtcCloseReasons = {
  ...legCloseReasons,
  /** ICE and DTLS did not come up within `connectTimeoutMs` of the offer/answer. */
  iceFailed: 'ice_failed',
  /** ICE lost the peer (no consent checks, no media) for `disconnectGraceMs`: a closed page, a lost network. */
  iceDisconnected: 'ice_disconnected',
  /** The DTLS handshake failed (wrong fingerprint, bad certificate). */
  dtlsFailed: 'dtls_failed',
  /** The peer ended DTLS (close_notify: `RTCPeerConnection.close()`, a page unloaded). */
  dtlsClosed: 'dtls_closed',
} as const;

export type WebRtcLegEvents = {
  statechange: [state: WebRtcLegState, reason: string];
  /** The peer's audio enters mediasoup through a new Producer (after each answer or re-offer that changes it). */
  producer: [producer: ms.Producer];
  /** No RTP from the peer for `inactivityMs` (once per silent spell). */
  inactive: [silentMs: number];
  close: [reason: string];
};

/** What a WebRtcLeg needs, given by the MediaService. */
export interface WebRtcLegDeps {
  id: string;
  worker: ms.Worker;
  router: ms.Router;
  /** The same `rtp` settings a SipLeg listens with. */
  listenIp: string;
  announcedIp?: string;
  /** ICE-TCP candidates besides the UDP ones (UDP preferred). */
  enableTcp: boolean;
  /** The browser's offer, negotiated with `webrtc: true`; null when we are the offerer. */
  offer: OfferOutcome | null;
  direction: Direction;
  /** Opus first (the offer was negotiated so, and our own offer lists it) or G.711 only. */
  codecs: CodecPreference;
  ptime: number;
  inactivityMs: number;
  /** ICE+DTLS must be up within this long of the offer/answer exchange. */
  connectTimeoutMs: number;
  /** How long ICE may stay disconnected (no bytes at all from the peer, consent checks included) before the leg ends. */
  disconnectGraceMs: number;
  pacer: PacerThread;
  log: Logger;
}
