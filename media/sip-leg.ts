/**
 * One SIP call leg's media: a mediasoup PlainTransport on the leg's RTP port, a Producer for the
 * peer's audio and at most one Consumer sending audio back to the peer. The leg lives as a small
 * state machine:
 *
 *   latching --first RTP--> active --peer moved / new SSRC / re-offer--> latching
 *       \________________________\______ close(reason) ______________> closed
 *
 * While latching, the leg's port is held by a Node socket waiting for the peer's first packet
 * (see rtp/latch.ts); once active, no packet goes through Node. A peer that does not send first
 * while we have an agent to play is sent to at its SDP address (`latchTimeoutMs`), and latched
 * when its RTP starts (the activity watch sees bytes no Producer takes).
 */
import type dgram from 'node:dgram';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../config/logger.js';
import { TypedEmitter } from '../lib/typed-emitter.js';
import { ActivityWatch } from './activity-watch.js';
import { LegAudio } from './audio/leg-audio.js';
import type { PacerThread } from './audio/pacer-thread.js';
import { LegClosedError } from './errors.js';
import { LegMedia, type LegCounters } from './leg-media.js';
import { legalMoves, legCloseReasons, type LegState, type LegStats, type SipLegDeps, type SipLegEvents } from './sip-leg-types.js';
import { awaitFirstRtp, sdpTarget, type Latch } from './rtp/latch.js';
import { closeUdp } from './rtp/ports.js';
import {
  isNullAddress,
  negotiateOffer,
  SdpOrigin,
  g711Codecs,
  writeNegotiatedAnswer,
  writeOffer,
  type AudioCodec,
  type Direction,
  type Negotiation,
  type OfferOutcome,
} from './sdp/index.js';

export { legCloseReasons } from './sip-leg-types.js';

const sends = (d: Direction) => d === 'sendrecv' || d === 'sendonly';
const receives = (d: Direction) => d === 'sendrecv' || d === 'recvonly';

export class SipLeg extends TypedEmitter<SipLegEvents> {
  /** Tells a SipLeg from a WebRtcLeg in a `CallLeg`. */
  readonly kind = 'sip';
  readonly id: string;
  /** The RTP port in our SDP; kept for the leg's whole life. */
  readonly port: number;
  readonly #d: SipLegDeps;
  readonly #log: Logger;
  readonly #origin = new SdpOrigin();
  readonly #media: LegMedia;
  readonly #watch: ActivityWatch;
  readonly #timer: NodeJS.Timeout;
  #state: LegState = 'latching';
  #offer: OfferOutcome;
  #answer: string;
  #socket: dgram.Socket | null;
  #latchAbort: AbortController | null = null;
  #latchedPackets = { packets: 0, bytes: 0 };
  #remote: Latch | null = null;
  /** The last real (not 0.0.0.0) address and port the peer's SDP gave. */
  #sdpTarget: string;
  #ops: Promise<unknown> = Promise.resolve();
  #polling = false;
  #lastPollAt = 0;
  readonly #pollMs: number;
  #fallback: NodeJS.Timeout | null = null;

  constructor(deps: SipLegDeps) {
    super((event, error) => deps.log.error({ event, err: error }, 'media leg listener threw'));
    this.#d = deps;
    this.id = deps.id;
    this.#log = deps.log;
    this.#socket = deps.socket;
    this.port = deps.socket.address().port;
    this.#offer = deps.offer;
    this.#sdpTarget = target(deps.offer.negotiation);
    this.#answer = this.#writeAnswer();
    const listen = deps.announcedIp ? { ip: deps.listenIp, announcedIp: deps.announcedIp } : { ip: deps.listenIp };
    this.#media = new LegMedia(deps.worker, deps.router, listen, this.port, deps.log);
    this.#watch = new ActivityWatch(deps.inactivityMs, Date.now());
    this.#watch.suspended = !receives(this.negotiation.direction);
    // A quarter of the inactivity time, within 50 ms-1 s: precise enough, and one stats request
    // per leg per second at most.
    this.#pollMs = Math.min(1000, Math.max(50, Math.floor(deps.inactivityMs / 4)));
    // Ticks every 50 ms; stats are read every #pollMs, or every tick while sending to the SDP's
    // address with no Producer (to latch soon after the peer's RTP starts).
    this.#timer = setInterval(() => {
      if (this.#pollDue()) void this.#poll();
    }, 50).unref();
    this.#log.debug({ port: this.port, workerPid: deps.worker.pid, codec: this.negotiation.codec.name }, 'media leg created');
    this.#startLatch();
  }

  get state(): LegState {
    return this.#state;
  }
  get closed(): boolean {
    return this.#state === 'closed';
  }
  /** Our latest SDP (answer to the latest offer). */
  get answerSdp(): string {
    return this.#answer;
  }
  get negotiation(): Negotiation {
    return this.#offer.negotiation;
  }
  get workerPid(): number {
    return this.#d.worker.pid;
  }
  /** Where our RTP goes: the latched source, or the SDP's address (ssrc null) before any RTP. */
  get remote(): { ip: string; port: number; ssrc: number | null } | null {
    return this.#remote && { ip: this.#remote.ip, port: this.#remote.port, ssrc: this.#remote.ssrc };
  }
  /** The Producer carrying the peer's audio, while active. */
  get producer(): ms.Producer | null {
    return this.#media.producer;
  }
  get transport(): ms.PlainTransport | null {
    return this.#media.transport;
  }
  /** The router the leg's media lives on (its worker's one). */
  get router(): ms.Router {
    return this.#d.router;
  }
  /** The thread that paces agent audio on this leg (`openAudio`). */
  get pacer(): PacerThread {
    return this.#d.pacer;
  }
  /** The negotiated codec. */
  get codec(): AudioCodec {
    return this.negotiation.codec;
  }

  /**
   * Our offer, for a peer that sent none (RFC 3261 §13.2.1: its INVITE had no SDP, the 2xx
   * carries our offer and its ACK the answer, which goes to `updateRemote`): PCMU, PCMA and
   * telephone-event on the leg's port. `codecs` narrows or reorders what is offered (a leg to be
   * bridged offers only the other leg's codec: mediasoup forwards, it does not transcode).
   */
  offerSdp(codecs: readonly AudioCodec[] = [g711Codecs.PCMU, g711Codecs.PCMA]): string {
    return writeOffer(this.#origin, {
      address: this.#d.sdpAddress,
      port: this.port,
      codecs: [...codecs],
      telephoneEvent: { payloadType: 101, events: '0-16' },
      ptime: this.#d.ptime,
      direction: this.#d.direction,
      rtcpMux: false,
    });
  }

  /** Subscribes to the peer's Producer as it is (re)created; returns the unsubscribe. */
  onProducer(listener: (producer: ms.Producer) => void): () => void {
    return this.on('producer', listener);
  }

  /**
   * The seam for the agent runtime: decoded frames and DTMF from the peer, paced PCM to it. The
   * peer then hears what is sent there instead of the echo. Closes with the leg.
   */
  openAudio(): Promise<LegAudio> {
    return LegAudio.forLeg(this, this.#log, () => this.#closeReason);
  }

  /** Sends the peer's own audio back to it, through mediasoup (kept across re-latches). */
  echo(): Promise<void> {
    return this.#serial(() => this.#media.setFeed({ kind: 'echo' }, this.negotiation));
  }

  /** Sends another Producer of the same router to the peer (`null`: send nothing). */
  play(producer: ms.Producer | null): Promise<void> {
    return this.#serial(async () => {
      await this.#media.setFeed(producer ? { kind: 'producer', producer } : null, this.negotiation);
      this.#armFallback();
    });
  }

  /** Resolves once media flows (latched, or sending to the SDP's address); rejects if the leg closes first. */
  whenActive(): Promise<void> {
    if (this.#state === 'active') return Promise.resolve();
    if (this.#state === 'closed') return Promise.reject(new LegClosedError(this.#closeReason));
    return new Promise((resolve, reject) => {
      const off = this.on('statechange', (s, reason) => {
        if (s === 'latching') return;
        off();
        if (s === 'active') resolve();
        else reject(new LegClosedError(reason));
      });
    });
  }

  /**
   * Applies a re-offer (re-INVITE or UPDATE) and returns our answer. Hold (sendonly, inactive,
   * c=0.0.0.0) pauses what we send; resuming restarts it. A new address or port, codec,
   * telephone-event type or rtcp-mux choice re-latches on the same local port. A re-offer with
   * no usable codec or a malformed body throws (`NoCommonCodecError`, `SdpError`) and changes
   * nothing: the call goes on as before. The answer to our `offerSdp()` is applied the same way
   * (the SDP returned is then not sent).
   */
  updateRemote(offerSdp: string): Promise<string> {
    return this.#serial(async () => {
      this.#assertOpen();
      const offer = negotiateOffer(offerSdp, { direction: this.#d.direction, prefer: this.negotiation.codec });
      const before = this.negotiation;
      const now = offer.negotiation;
      const moved = !isNullAddress(now.remote.address) && target(now) !== this.#sdpTarget;
      const structural =
        moved ||
        now.codec.name !== before.codec.name ||
        now.telephoneEvent?.payloadType !== before.telephoneEvent?.payloadType ||
        now.remote.rtcpMux !== before.remote.rtcpMux;
      this.#offer = offer;
      if (!isNullAddress(now.remote.address)) this.#sdpTarget = target(now);
      this.#watch.signOfLife(Date.now());
      this.#watch.suspended = !receives(now.direction);
      if (structural && this.#state === 'active') await this.#relatch('remote_changed');
      else await this.#media.setSending(sends(now.direction));
      this.#answer = this.#writeAnswer();
      this.#log.info({ direction: now.direction, codec: now.codec.name, structural }, 'media leg updated');
      return this.#answer;
    });
  }

  /** Counters since the leg started, across re-latches. */
  async stats(): Promise<LegStats> {
    const c: LegCounters = await this.#media.counters();
    return {
      rtpPacketsIn: c.packetsIn + this.#latchedPackets.packets,
      rtpPacketsOut: c.packetsOut,
      bytesIn: c.bytesIn + this.#latchedPackets.bytes,
      bytesOut: c.bytesOut,
      lastRtpAt: this.#watch.lastRtpAt,
    };
  }

  /** Ends the leg and everything under it (socket, transport, Producer, Consumers). Idempotent. */
  close(reason = 'hangup'): void {
    if (this.#state === 'closed') return;
    this.#transition('closed', reason);
  }

  /** The state now (after an await, when TypeScript's narrowing no longer holds). */
  #stateIs(s: LegState): boolean {
    return this.#state === s;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#ops.then(fn);
    this.#ops = run.catch(() => undefined);
    return run;
  }

  #assertOpen(): void {
    if (this.#state === 'closed') throw new LegClosedError(this.#closeReason);
  }
  #closeReason = '';

  #transition(to: LegState, reason: string): void {
    if (!legalMoves[this.#state].includes(to)) {
      this.#log.error({ from: this.#state, to, reason }, 'illegal media leg transition refused');
      return;
    }
    const from = this.#state;
    this.#state = to;
    this.#log.debug({ from, to, reason }, 'media leg state');
    this.emit('statechange', to, reason);
    if (to !== 'closed') return;
    this.#closeReason = reason;
    clearInterval(this.#timer);
    if (this.#fallback) clearTimeout(this.#fallback);
    this.#latchAbort?.abort(new LegClosedError(reason));
    if (this.#socket) void closeUdp(this.#socket);
    this.#socket = null;
    this.#media.close();
    this.#d.ports.release(this.port);
    this.emit('close', reason);
    this.removeAllListeners();
  }

  #writeAnswer(): string {
    return writeNegotiatedAnswer(this.#origin, this.#offer, { address: this.#d.sdpAddress, port: this.port, ptime: this.#d.ptime });
  }

  /** Waits on the Node socket for the peer's first RTP packet, then hands the port to the worker. */
  #startLatch(): void {
    const socket = this.#socket!;
    const abort = (this.#latchAbort = new AbortController());
    const accepts = (pt: number) => pt === this.negotiation.codec.payloadType || pt === this.negotiation.telephoneEvent?.payloadType;
    awaitFirstRtp(socket, accepts, abort.signal).then(
      (latch) => void this.#serial(() => this.#activate(latch)).catch((err: unknown) => this.#fail(err)),
      () => undefined, // aborted: the leg closed, or the SDP-address fallback took over
    );
    this.#armFallback();
  }

  /**
   * With something of ours to send and no packet from the peer yet, sends to the address its
   * SDP gives after `latchTimeoutMs` (at once when it said it will not send): symmetric RTP
   * (RFC 4961) is preferred, but a peer that waits to hear us first must still hear us.
   */
  #armFallback(): void {
    const abort = this.#latchAbort;
    const n = this.negotiation;
    if (this.#fallback || !abort || !this.#media.feedsProducer || isNullAddress(n.remote.address)) return;
    const wait = receives(n.direction) ? this.#d.latchTimeoutMs : 0;
    this.#fallback = setTimeout(() => {
      this.#fallback = null;
      if (abort.signal.aborted || !this.#stateIs('latching')) return;
      abort.abort(new Error('sending to the SDP address'));
      const target = sdpTarget(this.negotiation.remote.address, this.negotiation.remote.port);
      void this.#serial(() => this.#activate(target)).catch((err: unknown) => this.#fail(err));
    }, wait);
  }

  async #activate(latch: Latch): Promise<void> {
    if (this.#state !== 'latching') return;
    if (this.#fallback) clearTimeout(this.#fallback);
    this.#fallback = null;
    this.#latchAbort = null;
    this.#remote = latch;
    this.#latchedPackets.packets += latch.packets;
    this.#latchedPackets.bytes += latch.bytes;
    if (latch.ssrc !== null) this.#watch.rtpSeen(latch.at);
    const socket = this.#socket!;
    this.#socket = null;
    await closeUdp(socket);
    const n = this.negotiation;
    const sameAsSdp = latch.ip === n.remote.address && latch.port === n.remote.port;
    await this.#media.open(n, latch, sameAsSdp ? n.remote.rtcpPort : latch.port + 1, sends(n.direction), () => this.#onRouterClosed());
    if (!this.#stateIs('latching')) return; // closed meanwhile; close() already closed the media
    this.#watch.newCounters();
    if (latch.ssrc === null) return this.#transition('active', 'sdp_address');
    this.#transition('active', 'latched');
    this.#log.debug({ ip: latch.ip, rtpPort: latch.port, ssrc: latch.ssrc, viaNat: !sameAsSdp }, 'media leg latched');
    this.emit('latched', { ip: latch.ip, port: latch.port, ssrc: latch.ssrc });
    if (this.#media.producer) this.emit('producer', this.#media.producer);
  }

  /** Gives the port back to a Node socket and waits for the peer's RTP again. */
  async #relatch(reason: string): Promise<void> {
    if (this.#state !== 'active') return;
    await this.#media.release();
    if (!this.#stateIs('active')) return; // closed while the worker let go of the port
    this.#transition('latching', reason);
    try {
      this.#socket = await this.#d.ports.bind(this.#d.listenIp, this.port);
    } catch (err) {
      this.#log.error({ port: this.port, err }, 'media leg lost its port');
      this.close(legCloseReasons.portLost);
      return;
    }
    if (!this.#stateIs('latching')) {
      void closeUdp(this.#socket);
      this.#socket = null;
      return;
    }
    this.#startLatch();
  }

  #onRouterClosed(): void {
    this.close(this.#d.worker.died ? legCloseReasons.workerDied : legCloseReasons.serviceClosed);
  }

  #fail(err: unknown): void {
    if (this.#state === 'closed') return;
    if (this.#d.worker.died) return this.close(legCloseReasons.workerDied);
    this.#log.error({ err }, 'media leg failed');
    this.close(legCloseReasons.error);
  }

  /** Whether a tick should read the stats: checked before `#poll`, so an idle tick allocates nothing. */
  #pollDue(): boolean {
    if (this.#polling || this.#state === 'closed') return false;
    const unlatched = this.#state === 'active' && !this.#media.producer;
    return unlatched || Date.now() - this.#lastPollAt >= this.#pollMs;
  }

  async #poll(): Promise<void> {
    if (!this.#pollDue()) return;
    this.#lastPollAt = Date.now();
    this.#polling = true;
    try {
      const sample = this.#state === 'active' ? await this.#media.transportCounters() : null;
      if (this.#stateIs('closed')) return;
      const verdict = this.#watch.observe(Date.now(), sample);
      if (verdict === 'inactive') this.emit('inactive', this.#watch.silentFor(Date.now()));
      if (verdict === 'relatch') {
        this.#log.info('media leg sees RTP it cannot match, re-latching');
        await this.#serial(() => this.#relatch('unmatched_rtp'));
      }
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#polling = false;
    }
  }
}

/** The address and port a peer's SDP asks us to send to. */
function target(n: Negotiation): string {
  return `${n.remote.address}/${n.remote.port}`;
}
