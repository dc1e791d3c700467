/**
 * A browser's call leg: a mediasoup WebRtcTransport (ICE-lite, DTLS-SRTP, rtcp-mux, BUNDLE), a
 * Producer for the browser's audio (its a=ssrc / mid) and the one Consumer that feeds it, through
 * the same `LegMedia` a SipLeg uses (echo, or another Producer of the router). The leg lives as:
 *
 *   connecting --DTLS connected--> active --ICE lost / no consent checks--> disconnected
 *        |                           ^_______________ back within grace ______/   |
 *        \___________________________\______ close(reason) ___________________\__> closed
 *
 * We are ICE-lite (RFC 8839 §2.5): the browser runs the checks, so trickled candidates of its own
 * are not needed. mediasoup 3.12's ICE-lite server never times a silent peer out, so the leg
 * watches the transport's byte counter itself: a browser sends consent checks (RFC 7675) every
 * few seconds even on hold, and nothing at all once its page is gone.
 */
import type { types as ms } from 'mediasoup';
import type { Logger } from '../config/logger.js';
import { TypedEmitter } from '../lib/typed-emitter.js';
import { ActivityWatch } from './activity-watch.js';
import { LegAudio } from './audio/leg-audio.js';
import type { PacerThread } from './audio/pacer-thread.js';
import { LegClosedError, SdpError } from './errors.js';
import { LegMedia, type LegCounters } from './leg-media.js';
import { producerRtpParameters } from './rtp-parameters.js';
import type { LegStats } from './sip-leg-types.js';
import {
  negotiateOffer,
  SdpOrigin,
  g711Codecs,
  opusCodec,
  writeWebRtcAnswer,
  writeWebRtcOffer,
  type AudioCodec,
  type Direction,
  type Negotiation,
  type OfferOutcome,
  type WebRtcLocal,
  type WebRtcRemote,
} from './sdp/index.js';
import { webRtcCloseReasons, webRtcLegalMoves, type WebRtcLegDeps, type WebRtcLegEvents, type WebRtcLegState } from './webrtc-leg-types.js';

export { webRtcCloseReasons } from './webrtc-leg-types.js';

const sends = (d: Direction) => d === 'sendrecv' || d === 'sendonly';
const receives = (d: Direction) => d === 'sendrecv' || d === 'recvonly';

/** The mid of our own offer's audio stream. */
const offerMid = '0';

/** A stand-in negotiation until the browser answers our offer (nothing is sent or received before). */
function awaitingAnswer(direction: Direction): Negotiation {
  return {
    codec: g711Codecs.PCMU,
    telephoneEvent: { payloadType: 101, events: '0-16' },
    remote: { index: 0, address: '0.0.0.0', family: 4, port: 9, rtcpPort: 9, rtcpMux: true, direction: 'sendrecv', onHold: false, formats: [] },
    direction,
  };
}

export class WebRtcLeg extends TypedEmitter<WebRtcLegEvents> {
  readonly kind = 'webrtc';
  readonly id: string;
  readonly #d: WebRtcLegDeps;
  readonly #log: Logger;
  readonly #origin = new SdpOrigin();
  readonly #media: LegMedia<ms.WebRtcTransport>;
  readonly #transport: ms.WebRtcTransport;
  readonly #watch: ActivityWatch;
  readonly #timer: NodeJS.Timeout;
  #state: WebRtcLegState = 'connecting';
  #closeReason = '';
  #offer: OfferOutcome | null;
  #negotiation: Negotiation;
  /** Our DTLS role in SDP terms; `actpass` until the browser answers our offer. */
  #setup: 'actpass' | 'active' | 'passive' = 'actpass';
  #answer = '';
  /** The negotiation the transport was connected with and the Producer made for; null before. */
  #applied: Negotiation | null = null;
  #ops: Promise<unknown> = Promise.resolve();
  #connectTimer: NodeJS.Timeout | null = null;
  #graceTimer: NodeJS.Timeout | null = null;
  #bytesIn = -1;
  #bytesSeenAt = Date.now();
  #polling = false;
  #lastPollAt = 0;
  readonly #pollMs: number;

  private constructor(deps: WebRtcLegDeps, transport: ms.WebRtcTransport) {
    super((event, error) => deps.log.error({ event, err: error }, 'media leg listener threw'));
    this.#d = deps;
    this.id = deps.id;
    this.#log = deps.log;
    this.#transport = transport;
    this.#offer = deps.offer;
    this.#negotiation = deps.offer?.negotiation ?? awaitingAnswer(deps.direction);
    this.#media = new LegMedia<ms.WebRtcTransport>(deps.worker, deps.router, { ip: deps.listenIp }, 0, deps.log);
    this.#watch = new ActivityWatch(deps.inactivityMs, Date.now());
    this.#watch.suspended = !receives(this.#negotiation.direction);
    this.#pollMs = Math.min(1000, Math.max(50, Math.floor(Math.min(deps.inactivityMs, deps.disconnectGraceMs) / 4)));
    this.#timer = setInterval(() => void this.#poll(), 50).unref();
    transport.on('dtlsstatechange', (s) => this.#onDtls(s));
    transport.on('icestatechange', (s) => this.#onIce(s));
    transport.on('routerclose', () => this.close(deps.worker.died ? webRtcCloseReasons.workerDied : webRtcCloseReasons.serviceClosed));
  }

  /**
   * Opens the leg's WebRtcTransport and, with a browser's offer, connects it (DTLS role from the
   * offer's a=setup) and produces its audio; our answer is then `answerSdp`. Without an offer,
   * send `offerSdp()` and give the answer to `updateRemote`.
   */
  static async create(deps: WebRtcLegDeps): Promise<WebRtcLeg> {
    const listenIp = deps.announcedIp ? { ip: deps.listenIp, announcedIp: deps.announcedIp } : { ip: deps.listenIp };
    const transport = await deps.router.createWebRtcTransport({
      listenIps: [listenIp],
      enableUdp: true,
      enableTcp: deps.enableTcp,
      preferUdp: true,
      appData: { legId: deps.id },
    });
    const leg = new WebRtcLeg(deps, transport);
    try {
      await leg.#adopt();
      if (deps.offer) await leg.#applyRemote(deps.offer, 'offer');
    } catch (err) {
      leg.close(webRtcCloseReasons.error);
      throw err;
    }
    return leg;
  }

  get state(): WebRtcLegState {
    return this.#state;
  }
  get closed(): boolean {
    return this.#state === 'closed';
  }
  /** Our latest answer (to the browser's latest offer). */
  get answerSdp(): string {
    return this.#answer;
  }
  get negotiation(): Negotiation {
    return this.#negotiation;
  }
  get workerPid(): number {
    return this.#d.worker.pid;
  }
  get producer(): ms.Producer | null {
    return this.#media.producer;
  }
  get transport(): ms.WebRtcTransport {
    return this.#transport;
  }
  get router(): ms.Router {
    return this.#d.router;
  }
  get pacer(): PacerThread {
    return this.#d.pacer;
  }
  get codec(): AudioCodec {
    return this.#negotiation.codec;
  }
  /** The browser's ICE/DTLS/mid as its last SDP gave them (null before its answer to our offer). */
  get remoteWebRtc(): WebRtcRemote | null {
    return this.#applied?.remote.webrtc ?? null;
  }

  /**
   * Our WebRTC offer for a browser that sent none: `codecs` (by default Opus first when the leg
   * prefers it, then PCMU and PCMA) and telephone-event/8000, a=setup:actpass.
   */
  offerSdp(codecs: readonly AudioCodec[] = this.#d.codecs === 'opus' ? [opusCodec, g711Codecs.PCMU, g711Codecs.PCMA] : [g711Codecs.PCMU, g711Codecs.PCMA]): string {
    return writeWebRtcOffer(this.#origin, this.#local({ setup: 'actpass', mid: offerMid, midExtensionId: null, codecs, telephoneEvent: { payloadType: 101, events: '0-16' }, direction: this.#d.direction }));
  }

  onProducer(listener: (producer: ms.Producer) => void): () => void {
    return this.on('producer', listener);
  }

  /** As on a SipLeg: the agent runtime's seam (frames and DTMF in, paced PCM out). */
  openAudio(): Promise<LegAudio> {
    return LegAudio.forLeg(this, this.#log, () => this.#closeReason);
  }

  echo(): Promise<void> {
    return this.#serial(() => this.#media.setFeed({ kind: 'echo' }, this.#negotiation));
  }

  play(producer: ms.Producer | null): Promise<void> {
    return this.#serial(() => this.#media.setFeed(producer ? { kind: 'producer', producer } : null, this.#negotiation));
  }

  /** Resolves once DTLS is up and media can flow; rejects if the leg closes first. */
  whenActive(): Promise<void> {
    if (this.#state === 'active' || this.#state === 'disconnected') return Promise.resolve();
    if (this.#state === 'closed') return Promise.reject(new LegClosedError(this.#closeReason));
    return new Promise((resolve, reject) => {
      const off = this.on('statechange', (s, reason) => {
        if (s === 'connecting') return;
        off();
        if (s === 'closed') reject(new LegClosedError(reason));
        else resolve();
      });
    });
  }

  /**
   * The browser's answer to our `offerSdp()` (connects the transport), or a re-offer on the same
   * ICE/DTLS session (hold, resume, a new SSRC or codec): returns our answer. An ICE restart or
   * a new DTLS fingerprint is refused with `SdpError` and changes nothing, as is any malformed
   * body or one without a common codec (`NoCommonCodecError`).
   */
  updateRemote(sdp: string): Promise<string> {
    return this.#serial(async () => {
      this.#assertOpen();
      const kind = this.#applied ? 'offer' : 'answer';
      // An answer to our offer: the browser's first codec, which it sends with (the stand-in
      // negotiation's PCMU is no preference); a re-offer: keep the running codec.
      const outcome = kind === 'answer'
        ? negotiateOffer(sdp, { direction: this.#d.direction, webrtc: true, codecs: this.#d.codecs, answer: true })
        : negotiateOffer(sdp, { direction: this.#d.direction, prefer: this.#negotiation.codec, webrtc: true, codecs: this.#d.codecs });
      if (kind === 'answer' && outcome.negotiation.remote.webrtc!.setup === 'actpass') {
        throw new SdpError(['an answer must say a=setup:active or passive (RFC 8842 §5.3)']);
      }
      if (this.#applied) this.#checkSameSession(outcome.negotiation.remote.webrtc!);
      await this.#applyRemote(outcome, kind);
      return this.#answer;
    });
  }

  async stats(): Promise<LegStats> {
    const c: LegCounters = await this.#media.counters();
    return { rtpPacketsIn: c.packetsIn, rtpPacketsOut: c.packetsOut, bytesIn: c.bytesIn, bytesOut: c.bytesOut, lastRtpAt: this.#watch.lastRtpAt };
  }

  /** Ends the leg and everything under it (transport, Producer, Consumer). Idempotent. */
  close(reason = 'hangup'): void {
    if (this.#state === 'closed') return;
    this.#transition('closed', reason);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#ops.then(fn);
    this.#ops = run.catch(() => undefined);
    return run;
  }

  #assertOpen(): void {
    if (this.#state === 'closed') throw new LegClosedError(this.#closeReason);
  }

  #transition(to: WebRtcLegState, reason: string): void {
    if (!webRtcLegalMoves[this.#state].includes(to)) {
      if (this.#state !== 'closed') this.#log.error({ from: this.#state, to, reason }, 'illegal media leg transition refused');
      return;
    }
    const from = this.#state;
    this.#state = to;
    this.#log.debug({ from, to, reason }, 'media leg state');
    this.emit('statechange', to, reason);
    if (to === 'disconnected') this.#graceTimer ??= setTimeout(() => this.close(webRtcCloseReasons.iceDisconnected), this.#d.disconnectGraceMs);
    else this.#clearGrace();
    if (to !== 'connecting' && this.#connectTimer) clearTimeout(this.#connectTimer);
    if (to !== 'closed') return;
    this.#closeReason = reason;
    clearInterval(this.#timer);
    // A page that hangs up or goes away closes the leg before its call reads the RTP counters
    // (the call's record keeps them): read them on the way out.
    this.#media.close(reason === webRtcCloseReasons.dtlsClosed || reason === webRtcCloseReasons.iceDisconnected);
    this.#log.info({ reason }, 'webrtc leg closed');
    this.emit('close', reason);
    this.removeAllListeners();
  }

  #clearGrace(): void {
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = null;
  }

  /** Hands the transport to LegMedia (no Producer yet), so that close() closes it from now on. */
  async #adopt(): Promise<void> {
    await this.#media.adopt(this.#transport, null, this.#negotiation, sends(this.#negotiation.direction));
  }

  /**
   * Applies the browser's offer or answer: connects DTLS on the first one (RFC 8842 §5: the
   * role opposite to the peer's; `passive` for us when it offers actpass), (re)creates the
   * Producer when the SSRC, mid or codec changed, and writes our answer.
   */
  async #applyRemote(outcome: OfferOutcome, kind: 'offer' | 'answer'): Promise<void> {
    const before = this.#applied;
    const n = outcome.negotiation;
    const w = n.remote.webrtc!;
    if (!before) {
      // Our role: passive unless the peer insists on being passive itself.
      this.#setup = w.setup === 'passive' ? 'active' : 'passive';
      const role = this.#setup === 'passive' ? 'client' : 'server';
      await this.#transport.connect({ dtlsParameters: { role, fingerprints: [w.fingerprint] } });
      this.#connectTimer = setTimeout(() => {
        if (this.#state === 'connecting') this.close(webRtcCloseReasons.iceFailed);
      }, this.#d.connectTimeoutMs);
    }
    if (kind === 'offer') this.#offer = outcome;
    this.#negotiation = n;
    this.#applied = n;
    this.#watch.signOfLife(Date.now());
    this.#watch.suspended = !receives(n.direction);
    const changed = !before || before.codec.name !== n.codec.name || before.remote.webrtc?.ssrc !== w.ssrc || before.remote.webrtc?.mid !== w.mid
      || before.telephoneEvent?.payloadType !== n.telephoneEvent?.payloadType;
    if (changed) await this.#produce(n);
    await this.#media.setSending(sends(n.direction));
    if (this.#offer) this.#answer = this.#writeAnswer(this.#offer);
    this.#log.info({ kind, direction: n.direction, codec: n.codec.name, ssrc: w.ssrc, mid: w.mid, setup: this.#setup }, 'webrtc leg remote applied');
  }

  /**
   * The browser's audio as a Producer, matched by its a=ssrc (mediasoup 3.12 matches by SSRC,
   * MID or RID; we do not answer the mid extension, see #writeAnswer), and the feed again on it.
   */
  async #produce(n: Negotiation): Promise<void> {
    const ssrc = n.remote.webrtc!.ssrc;
    if (ssrc === null) throw new SdpError(['no a=ssrc for the audio stream: its RTP cannot be matched']);
    const rtpParameters = producerRtpParameters(n, ssrc);
    const producer = await this.#transport.produce({ kind: 'audio', rtpParameters });
    if (this.closed) return producer.close();
    await this.#media.replaceProducer(producer, n);
    this.emit('producer', producer);
  }

  /** RFC 8839 §4.4.1.1.1 / RFC 8842 §5.5: new ICE credentials or a new fingerprint start a new session, which we do not do. */
  #checkSameSession(w: WebRtcRemote): void {
    const was = this.#applied!.remote.webrtc!;
    const issues: string[] = [];
    if (w.iceUfrag !== was.iceUfrag || w.icePwd !== was.icePwd) issues.push('ICE restart (new ice-ufrag/ice-pwd) is not supported');
    if (w.fingerprint.value !== was.fingerprint.value) issues.push('a new DTLS fingerprint is not supported');
    if (issues.length) throw new SdpError(issues);
  }

  #local(p: Pick<WebRtcLocal, 'setup' | 'mid' | 'midExtensionId' | 'codecs' | 'telephoneEvent' | 'direction'>): WebRtcLocal {
    const t = this.#transport;
    const fingerprint = t.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? t.dtlsParameters.fingerprints[0]!;
    return {
      ...p,
      ice: t.iceParameters,
      candidates: t.iceCandidates.map((c) => ({ foundation: c.foundation, priority: c.priority, ip: c.ip, protocol: c.protocol, port: c.port })),
      fingerprint: { algorithm: fingerprint.algorithm as 'sha-256', value: fingerprint.value.toUpperCase() },
      // No a=ssrc for what we send: mediasoup 3.12 gives each Consumer a fresh SSRC and the feed
      // (echo, agent, bridge) changes the Consumer, so a signalled SSRC would go stale and the
      // browser would drop the new one. Unsignalled, the browser routes our RTP to the one audio
      // m= line by payload type (RFC 8843 §9.2), whatever the SSRC.
      ssrc: null,
      ptime: this.#d.ptime,
      protocol: 'UDP/TLS/RTP/SAVPF',
    };
  }

  #writeAnswer(offer: OfferOutcome): string {
    const n = offer.negotiation;
    const w = n.remote.webrtc!;
    const local = this.#local({
      setup: this.#setup === 'actpass' ? 'passive' : this.#setup,
      mid: w.mid ?? offerMid,
      // Not answered: mediasoup 3.12 Consumers write sdes:mid at the router's id, not the offer's,
      // and a browser that negotiated it drops audio without it. The browser's SSRC matches its
      // Producer; what we send is matched by payload type (one audio m= line).
      midExtensionId: null,
      codecs: [n.codec],
      telephoneEvent: n.telephoneEvent,
      direction: n.direction,
    });
    return writeWebRtcAnswer(this.#origin, { ...local, protocol: offer.sections[n.remote.index]!.protocol }, offer.sections, n.remote.index);
  }

  #onDtls(s: ms.DtlsState): void {
    this.#log.debug({ dtlsState: s }, 'webrtc leg dtls');
    if (s === 'connected' && this.#state === 'connecting') this.#transition('active', 'dtls_connected');
    else if (s === 'failed') this.close(webRtcCloseReasons.dtlsFailed);
    else if (s === 'closed') this.close(webRtcCloseReasons.dtlsClosed);
  }

  #onIce(s: ms.IceState): void {
    this.#log.debug({ iceState: s }, 'webrtc leg ice');
    if (s === 'disconnected' && this.#state === 'active') this.#transition('disconnected', 'ice_disconnected');
    else if ((s === 'connected' || s === 'completed') && this.#state === 'disconnected') this.#transition('active', 'ice_reconnected');
  }

  async #poll(): Promise<void> {
    if (this.#polling || this.#state === 'closed') return;
    const now = Date.now();
    if (now - this.#lastPollAt < this.#pollMs) return;
    this.#lastPollAt = now;
    this.#polling = true;
    try {
      const [s] = await this.#transport.getStats();
      if (this.closed || !s) return;
      this.#observeConsent(Date.now(), s.bytesReceived);
      // Bytes that reach no Producer (STUN, RTCP) are expected here: there is no latch to redo.
      const verdict = this.#watch.observe(Date.now(), { bytesReceived: s.rtpBytesReceived, rtpBytesReceived: s.rtpBytesReceived });
      if (verdict === 'inactive') this.emit('inactive', this.#watch.silentFor(Date.now()));
    } catch (err) {
      if (this.closed) return;
      if (this.#d.worker.died) return this.close(webRtcCloseReasons.workerDied);
      this.#log.error({ err }, 'media leg failed');
      this.close(webRtcCloseReasons.error);
    } finally {
      this.#polling = false;
    }
  }

  /**
   * RFC 7675 §5.1: a peer that stops answering consent checks has gone. Here: no byte at all
   * (consent checks, RTP, RTCP) for `disconnectGraceMs / 2` moves an active leg to
   * `disconnected`, whose grace timer ends the leg unless bytes come back first.
   */
  #observeConsent(now: number, bytesReceived: number): void {
    if (bytesReceived !== this.#bytesIn) {
      this.#bytesIn = bytesReceived;
      this.#bytesSeenAt = now;
      if (this.#state === 'disconnected' && this.#transport.iceState !== 'disconnected') this.#transition('active', 'consent_back');
      return;
    }
    if (this.#state === 'active' && now - this.#bytesSeenAt >= this.#d.disconnectGraceMs / 2) this.#transition('disconnected', 'no_consent');
  }
}
