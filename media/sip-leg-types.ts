/** The shapes around a SipLeg: its states and their legal moves, events, stats and inputs. */
import type dgram from 'node:dgram';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../config/logger.js';
import type { PacerThread } from './audio/pacer-thread.js';
import type { RtpPorts } from './rtp/ports.js';
import type { Direction, OfferOutcome } from './sdp/index.js';

export type LegState = 'latching' | 'active' | 'closed';

/** Legal moves; anything else is a bug and is refused. */
export const legalMoves: Record<LegState, readonly LegState[]> = {
  latching: ['active', 'closed'],
  active: ['latching', 'closed'],
  closed: [],
};

/** Close reasons `media/` gives itself; callers pass their own (e.g. `bye`, `inactive`). */
export const legCloseReasons = {
  workerDied: 'media_worker_died',
  serviceClosed: 'media_closed',
  portLost: 'media_port_lost',
  error: 'media_error',
} as const;

export interface LegStats {
  /** RTP packets received from the peer (the latching one included). */
  rtpPacketsIn: number;
  /** RTP packets sent to the peer. */
  rtpPacketsOut: number;
  /** Bytes of those RTP packets, headers included. */
  bytesIn: number;
  bytesOut: number;
  /** When RTP from the peer was last seen (ms since the epoch; to the watch period), or null. */
  lastRtpAt: number | null;
}

export type SipLegEvents = {
  statechange: [state: LegState, reason: string];
  /** The peer's RTP was latched: media now flows to and from `ip:port`. */
  latched: [remote: { ip: string; port: number; ssrc: number }];
  /** The peer's audio enters mediasoup through a new Producer (after each latch). */
  producer: [producer: ms.Producer];
  /** No RTP from the peer for `inactivityMs` (once per silent spell). */
  inactive: [silentMs: number];
  close: [reason: string];
};

/** What a leg needs, given by the MediaService. */
export interface SipLegDeps {
  id: string;
  worker: ms.Worker;
  router: ms.Router;
  ports: RtpPorts;
  /** The Node socket already bound on the leg's port. */
  socket: dgram.Socket;
  listenIp: string;
  announcedIp?: string;
  /** Address written in our SDP. */
  sdpAddress: string;
  offer: OfferOutcome;
  direction: Direction;
  ptime: number;
  inactivityMs: number;
  latchTimeoutMs: number;
  /** Paces agent audio (`openAudio`) off the main event loop. */
  pacer: PacerThread;
  log: Logger;
}
