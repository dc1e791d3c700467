/**
 * SIP call legs over the worker pool. One mediasoup Router per worker, created on first use and
 * shared by every leg on that worker (legs on one router can later be bridged without piping).
 * A leg is placed on the next live worker; when a worker dies, every leg on it closes with
 * `media_worker_died` and the others carry on.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../config/logger.js';
import type { Config } from '../config/schema.js';
import { PacerThread } from './audio/pacer-thread.js';
import { MediaUnavailableError } from './errors.js';
import { routerMediaCodecs } from './rtp-parameters.js';
import { closeUdp, RtpPorts } from './rtp/ports.js';
import type { CallLeg } from './call-leg.js';
import { opusAvailable, opusUnavailableReason } from './audio/opus.js';
import { negotiateOffer, offersWebRtc, type CodecPreference, type Direction } from './sdp/index.js';
import { legCloseReasons, SipLeg } from './sip-leg.js';
import { WebRtcLeg } from './webrtc-leg.js';
import type { WorkerPool } from './worker-pool.js';

interface SipLegOptions {
  /** `inactive` fires after this long without RTP from the peer. Default 30 s. */
  inactivityMs?: number;
  /**
   * With an agent to play (`play`, `openAudio`) and nothing yet from the peer, how long to wait
   * for its first packet before sending to the address its SDP gives. Default 500 ms; at once
   * when the peer says it will not send (recvonly, inactive).
   */
  latchTimeoutMs?: number;
  /** What we want for the stream; the answer narrows it per RFC 3264 §6.1. Default sendrecv. */
  direction?: Direction;
  /** Packetisation we ask the peer for (a=ptime), ms. Default 20. */
  ptime?: number;
  /** The call's logger (with its ids); the service's own otherwise. */
  log?: Logger;
  /** The leg's id in logs; a UUID otherwise. */
  id?: string;
  /**
   * Places the leg on this leg's worker (and so its router), for legs that will be bridged: a
   * Consumer can only take a Producer of its own router. Throws `MediaUnavailableError` when that
   * worker is gone.
   */
  nextTo?: CallLeg;
}

interface WebRtcLegOptions extends Omit<SipLegOptions, 'latchTimeoutMs'> {
  /** ICE and DTLS must be up within this long of the offer/answer. Default 20 s. */
  connectTimeoutMs?: number;
  /**
   * How long a browser may send nothing at all (no consent check, no RTP) before the leg ends
   * `ice_disconnected`: half of it to be marked disconnected, the rest as grace. Default 10 s.
   */
  disconnectGraceMs?: number;
  /**
   * `opus`: answer (and offer) Opus first when the browser has it, for a leg whose audio Node
   * decodes (an agent's call); `g711` (default): PCMU/PCMA only, for a leg that is or may be
   * bridged to a phone, which mediasoup forwards without transcoding. Opus falls back to G.711
   * when its package is not installed.
   */
  prefer?: CodecPreference;
}

/** RFC 8839 gives ICE ~ tens of seconds on a bad network; a browser on a LAN needs well under one. */
const defaultConnectTimeoutMs = 20_000;
/** Browsers send consent checks every few seconds (RFC 7675 §5.1: 4-6 s at most). */
const defaultDisconnectGraceMs = 10_000;

/** RTP timeout before a silent peer is reported: long enough for a few lost packets or a hold without re-INVITE. */
const defaultInactivityMs = 30_000;
/** A phone sends its first packet within tens of ms of the 200 OK; half a second is plenty. */
const defaultLatchTimeoutMs = 500;

/** What a leg with no offer yet stands on: our offer's codecs at a null address (see createSipLeg). */
const awaitingAnswer = [
  'v=0', 'o=- 0 0 IN IP4 0.0.0.0', 's=-', 'c=IN IP4 0.0.0.0', 't=0 0',
  'm=audio 9 RTP/AVP 0 8 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=sendrecv', '',
].join('\r\n');

export class MediaService {
  readonly #routers = new WeakMap<ms.Worker, Promise<ms.Router>>();
  readonly #ports = new Map<number, RtpPorts>();
  readonly #legs = new Set<CallLeg>();
  readonly #log: Logger;
  readonly #offDied: () => void;
  #opusMissingLogged = false;
  /** One thread paces every agent leg's outgoing audio (started with the first). */
  readonly pacer: PacerThread;
  /** The address our SDP announces. */
  readonly sdpAddress: string;
  #closed = false;

  constructor(
    private readonly pool: WorkerPool,
    private readonly rtp: Config['rtp'],
    log: Logger,
  ) {
    this.#log = log.child({ component: 'media' });
    this.pacer = new PacerThread(this.#log);
    this.sdpAddress = sdpAddressFor(rtp);
    if (!rtp.announcedIp) this.#log.info({ sdpAddress: this.sdpAddress }, 'rtp.announcedIp unset, SDP announces this address');
    this.#offDied = pool.on('workerdied', (_index, pid) => {
      for (const leg of this.#legs) if (leg.workerPid === pid) leg.close(legCloseReasons.workerDied);
    });
  }

  /**
   * A leg for an inbound offer: negotiates it (throws `SdpError` or `NoCommonCodecError` before
   * taking any resource), binds an RTP port on the next live worker and returns the leg, whose
   * `answerSdp` is ready. Throws `MediaUnavailableError` when no worker or port is available.
   *
   * With no offer (an INVITE without SDP), the leg is ours to offer: send its `offerSdp()`, and
   * give the answer to `updateRemote`. Until then it stands on a placeholder of what we offer at
   * a null address: it latches on the peer's first RTP but sends nowhere.
   */
  async createSipLeg(offerSdp: string | null, opts: SipLegOptions = {}): Promise<SipLeg> {
    if (this.#closed) throw new MediaUnavailableError('media service closed');
    const direction = opts.direction ?? 'sendrecv';
    const offer = negotiateOffer(offerSdp ?? awaitingAnswer, { direction });
    const worker = this.#pickWorker(opts.nextTo);
    const router = await this.#routerOf(worker);
    const ports = this.#portsOf(worker);
    let socket;
    try {
      socket = await ports.bind(this.rtp.listenIp);
    } catch (err) {
      throw new MediaUnavailableError((err as Error).message);
    }
    if (worker.closed || router.closed || this.#closed) {
      ports.release(socket.address().port);
      await closeUdp(socket);
      throw new MediaUnavailableError('media worker went away while the leg was created');
    }
    const id = opts.id ?? randomUUID();
    const leg = new SipLeg({
      id,
      worker,
      router,
      ports,
      socket,
      listenIp: this.rtp.listenIp,
      ...(this.rtp.announcedIp ? { announcedIp: this.rtp.announcedIp } : {}),
      sdpAddress: this.sdpAddress,
      offer,
      direction,
      ptime: opts.ptime ?? 20,
      inactivityMs: opts.inactivityMs ?? defaultInactivityMs,
      latchTimeoutMs: opts.latchTimeoutMs ?? defaultLatchTimeoutMs,
      pacer: this.pacer,
      log: opts.log ?? this.#log.child({ legId: id }),
    });
    this.#legs.add(leg);
    leg.once('close', () => this.#legs.delete(leg));
    return leg;
  }

  /**
   * A leg for whatever the peer offered: a `WebRtcLeg` for a WebRTC offer (UDP/TLS/RTP/SAVPF),
   * a `SipLeg` otherwise (and with no offer). Throws as `createSipLeg` does.
   */
  async createLeg(offerSdp: string | null, opts: WebRtcLegOptions & SipLegOptions = {}): Promise<CallLeg> {
    if (offerSdp !== null && offersWebRtc(offerSdp)) return this.createWebRtcLeg(offerSdp, opts);
    return this.createSipLeg(offerSdp, opts);
  }

  /**
   * A browser's leg on a WebRtcTransport. With its offer: negotiated first (`SdpError`,
   * `NoCommonCodecError` before any resource is taken), and `answerSdp` is ready. With `null`:
   * ours to offer (`offerSdp()`, then `updateRemote(answer)`), for a call to a browser.
   * Throws `MediaUnavailableError` when no worker is available.
   */
  async createWebRtcLeg(offerSdp: string | null, opts: WebRtcLegOptions = {}): Promise<WebRtcLeg> {
    if (this.#closed) throw new MediaUnavailableError('media service closed');
    const direction = opts.direction ?? 'sendrecv';
    const codecs = this.#codecs(opts.prefer ?? 'g711');
    const offer = offerSdp === null ? null : negotiateOffer(offerSdp, { direction, webrtc: true, codecs });
    const worker = this.#pickWorker(opts.nextTo);
    const router = await this.#routerOf(worker);
    if (worker.closed || router.closed || this.#closed) throw new MediaUnavailableError('media worker went away while the leg was created');
    const id = opts.id ?? randomUUID();
    let leg: WebRtcLeg;
    try {
      leg = await WebRtcLeg.create({
        id,
        worker,
        router,
        listenIp: this.rtp.listenIp,
        ...(this.rtp.announcedIp ? { announcedIp: this.rtp.announcedIp } : {}),
        enableTcp: true,
        offer,
        direction,
        codecs,
        ptime: opts.ptime ?? 20,
        inactivityMs: opts.inactivityMs ?? defaultInactivityMs,
        connectTimeoutMs: opts.connectTimeoutMs ?? defaultConnectTimeoutMs,
        disconnectGraceMs: opts.disconnectGraceMs ?? defaultDisconnectGraceMs,
        pacer: this.pacer,
        log: opts.log ?? this.#log.child({ legId: id }),
      });
    } catch (err) {
      if (worker.died || worker.closed || router.closed) throw new MediaUnavailableError('media worker went away while the leg was created');
      throw err;
    }
    if (this.#closed || leg.closed) {
      leg.close(legCloseReasons.serviceClosed);
      throw new MediaUnavailableError('media service closed');
    }
    this.#legs.add(leg);
    leg.once('close', () => this.#legs.delete(leg));
    return leg;
  }

  /** Opus when asked for and its package loads (said once in the log when it does not). */
  #codecs(prefer: CodecPreference): CodecPreference {
    if (prefer !== 'opus' || opusAvailable()) return prefer;
    if (!this.#opusMissingLogged) this.#log.warn({ reason: opusUnavailableReason() }, 'opus not available: browser legs use G.711');
    this.#opusMissingLogged = true;
    return 'g711';
  }

  #pickWorker(nextTo: CallLeg | undefined): ms.Worker {
    try {
      return nextTo ? this.#workerOf(nextTo) : this.pool.pick();
    } catch (err) {
      throw new MediaUnavailableError(nextTo ? (err as Error).message : 'no media worker alive');
    }
  }

  /** The open legs (for call control's bookkeeping, health and tests). */
  legs(): readonly CallLeg[] {
    return [...this.#legs];
  }

  get legCount(): number {
    return this.#legs.size;
  }

  /** Open legs, and RTP ports they hold (both 0 once every leg is closed). */
  stats(): { legs: number; portsHeld: number } {
    let portsHeld = 0;
    for (const p of this.#ports.values()) portsHeld += p.held;
    return { legs: this.#legs.size, portsHeld };
  }

  /** The router a worker's legs use (created on first use). */
  routerOf(worker: ms.Worker): Promise<ms.Router> {
    return this.#routerOf(worker);
  }

  /** Closes every leg (`media_closed`) and every router. The pool stays up. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#offDied();
    for (const leg of [...this.#legs]) leg.close(legCloseReasons.serviceClosed);
    this.pacer.close();
    for (const worker of this.#workersSeen) void this.#routers.get(worker)?.then((r) => r.close(), () => undefined);
    this.#workersSeen.clear();
  }

  readonly #workersSeen = new Set<ms.Worker>();

  #routerOf(worker: ms.Worker): Promise<ms.Router> {
    let router = this.#routers.get(worker);
    if (!router || worker.closed) {
      router = worker.createRouter({ mediaCodecs: routerMediaCodecs, appData: { service: 'sip' } });
      this.#routers.set(worker, router);
      this.#workersSeen.add(worker);
      worker.observer.once('close', () => this.#workersSeen.delete(worker));
      router.catch(() => this.#routers.delete(worker));
    }
    return router;
  }

  #workerOf(leg: CallLeg): ms.Worker {
    const worker = this.pool.workers().find((w) => w.pid === leg.workerPid);
    if (!worker || worker.closed || leg.closed) throw new Error('the leg to stand next to is gone');
    return worker;
  }

  #portsOf(worker: ms.Worker): RtpPorts {
    const slot = this.pool.slotOf(worker);
    let ports = this.#ports.get(slot.index);
    if (!ports) this.#ports.set(slot.index, (ports = new RtpPorts(slot.legMinPort, slot.legMaxPort)));
    return ports;
  }
}

/**
 * The address for c= and o=: rtp.announcedIp, else rtp.listenIp, else (listening on every
 * interface) the first external address of that family, so an SDP never says 0.0.0.0, which
 * RFC 3264 §8.4 reads as hold.
 */
function sdpAddressFor(rtp: Config['rtp']): string {
  if (rtp.announcedIp) return rtp.announcedIp;
  if (rtp.listenIp !== '0.0.0.0' && rtp.listenIp !== '::') return rtp.listenIp;
  const family = rtp.listenIp === '::' ? 'IPv6' : 'IPv4';
  for (const addresses of Object.values(os.networkInterfaces())) {
    const found = addresses?.find((a) => a.family === family && !a.internal);
    if (found) return found.address;
  }
  return family === 'IPv6' ? '::1' : '127.0.0.1';
}
