/**
 * The seam between a SIP leg and the agent runtime: decoded 20 ms frames and DTMF out of the
 * call, 16-bit PCM and RFC 4733 digits into it, paced at 20 ms. Both directions go through one
 * PlainTransport on the leg's router, on loopback, connected to the socket of the agent-audio
 * thread (`pacer-thread.ts`). Out: the thread paces our frames off the main event loop and sends
 * them as RTP into the transport, whose Producer (fixed SSRC) is what the leg sends to the peer.
 * In: the transport's Consumer of the leg's Producer sends the peer's RTP to the thread, which
 * hands it to this thread in batches (one message per couple of milliseconds for every agent
 * call, rather than a mediasoup channel read per packet). Should the thread die, the incoming side
 * moves to a DirectTransport on the router (the agent falls silent but still hears). This is the
 * one place where Node handles every packet of a call, and only for calls that have an agent.
 */
import { randomInt } from 'node:crypto';
import type { types as ms } from 'mediasoup';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import { LegClosedError } from '../errors.js';
import { agentRtpParameters, eventCarrier, eventCarrierOut, routerMediaCodecs } from '../rtp-parameters.js';
import { readRtpHeader } from '../rtp/packet.js';
import type { AudioCodec, Negotiation } from '../sdp/types.js';
import {
  assertDtmfDigits,
  checkDtmfTiming,
  defaultDtmfTiming,
  DtmfNotNegotiatedError,
  DtmfReceiver,
  type Dtmf,
  type DtmfTiming,
} from './dtmf.js';
import { frameCodec, samplesPerFrame, type FrameCodec } from './frame-codec.js';
import { PacerThreadError, type PacerStream, type PacerThread } from './pacer-thread.js';

export interface AudioFrame {
  /** 160 samples of 16-bit linear PCM at 8 kHz. */
  pcm: Int16Array;
  /** The payload the frame came from, as received: G.711 bytes, or an Opus packet. */
  payload: Buffer;
  sequence: number;
  /** Its RTP timestamp on an 8 kHz clock (an Opus stream's 48 kHz one, divided by 6). */
  timestamp: number;
}

type LegAudioEvents = {
  frame: [frame: AudioFrame];
  /** A frame of ours as it is paced out to the peer (20 ms of 8 kHz PCM): what a recording hears. */
  sent: [pcm: Int16Array, timestamp: number];
  /**
   * A packet of ours as it left the thread: its RTP sequence number (before mediasoup rewrites it
   * by a constant per stream) and the time (ms, `process.hrtime`'s monotonic clock). Cheap:
   * nothing is decoded for it (benchmarks time the outgoing path with it).
   */
  paced: [sequence: number, atMs: number];
  dtmf: [dtmf: Dtmf];
  close: [];
};

/** What LegAudio needs from its leg (a SipLeg provides it). */
interface AudioSource {
  readonly router: ms.Router;
  readonly codec: AudioCodec;
  /** The leg's current negotiation: where RFC 4733 events go, if anywhere. */
  readonly negotiation: Pick<Negotiation, 'telephoneEvent'>;
  /** The Producer carrying the peer's audio, when there is one. */
  readonly producer: ms.Producer | null;
  /** Subscribes to new Producers (after each latch); returns the unsubscribe. */
  onProducer(listener: (p: ms.Producer) => void): () => void;
  /** Sends `producer` to the peer. */
  play(producer: ms.Producer | null): Promise<void>;
  /** The thread that paces our audio. */
  readonly pacer: PacerThread;
}

/** Where our RTP leaves and the peer's arrives: the thread's stream, on this PlainTransport. */
interface Outgoing {
  transport: ms.PlainTransport;
  stream: PacerStream;
}

/**
 * The outgoing side's life: `opening` until the thread has the stream, `sending` while it paces
 * it, `failed` once the thread died (the agent falls silent; the incoming side goes on), then
 * `closed`.
 */
type OutState = 'opening' | 'sending' | 'failed' | 'closed';

/** The loopback address between the pacing thread and mediasoup. */
const loopback = '127.0.0.1';

/**
 * Announces every seam as it opens (benchmarks watch an engine's agent audio through it). A
 * listener that throws is reported by the seam's own error handler (a log line); the seam stays open.
 */
export const legAudioObserver = new TypedEmitter<{ open: [audio: LegAudio] }>((event, err) => {
  throw err;
});

export class LegAudio extends TypedEmitter<LegAudioEvents> {
  readonly #onError: (event: string, error: unknown) => void;
  /** Where the peer's audio arrives once the thread died (null while the thread passes it on). */
  #direct: ms.DirectTransport | null = null;
  readonly #dtmf = new DtmfReceiver();
  readonly #offProducer: () => void;
  #codec: FrameCodec;
  #out: Outgoing | null = null;
  #outState: OutState = 'opening';
  #producer: ms.Producer | null = null;
  #consumer: ms.Consumer | null = null;
  readonly #ssrc = randomInt(1, 2 ** 32 - 1);
  #pending: Int16Array = new Int16Array(0);
  /** Frames posted to the thread, and of those the ones it no longer queues (sent or cleared). */
  #posted = 0;
  #consumed = 0;
  /** DTMF requests in the thread, by number. */
  readonly #dtmfWaiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  #dtmfReq = 0;
  #closed = false;
  /** Packets of the peer's that did not decode (not Opus): dropped, counted. */
  #undecodable = 0;

  private constructor(
    private readonly source: AudioSource,
    onListenerError: (event: string, error: unknown) => void,
  ) {
    super(onListenerError);
    this.#onError = onListenerError;
    this.#codec = frameCodec(source.codec);
    this.#offProducer = source.onProducer((p) => void this.#listen(p).catch((err: unknown) => onListenerError('producer', err)));
  }

  /** Opens the seam: the peer's audio starts arriving as `frame` events, and the peer hears `send`. */
  static async open(source: AudioSource, onListenerError: (event: string, error: unknown) => void): Promise<LegAudio> {
    const audio = new LegAudio(source, onListenerError);
    try {
      await audio.#openOutgoing();
      await audio.#produce();
      if (source.producer) await audio.#listen(source.producer);
    } catch (e) {
      audio.close();
      throw e;
    }
    if (legAudioObserver.listenerCount('open')) {
      try {
        legAudioObserver.emit('open', audio);
      } catch (err) {
        onListenerError('observer', err);
      }
    }
    return audio;
  }

  /**
   * A leg's seam (SipLeg, WebRtcLeg), closed with the leg: rejects with `LegClosedError` when the
   * leg closed while it opened.
   */
  static async forLeg(
    leg: AudioSource & { readonly closed: boolean; once(event: 'close', listener: (reason: string) => void): unknown },
    log: { error(obj: object, msg: string): void },
    closeReason: () => string,
  ): Promise<LegAudio> {
    if (leg.closed) throw new LegClosedError(closeReason());
    const audio = await LegAudio.open(leg, (event, error) => log.error({ event, err: error }, 'leg audio listener threw'));
    if (leg.closed) {
      audio.close();
      throw new LegClosedError(closeReason());
    }
    leg.once('close', () => audio.close());
    return audio;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The peer's packets dropped because they did not decode (an Opus leg only). */
  get undecodablePackets(): number {
    return this.#undecodable;
  }

  /** Milliseconds of audio queued for the peer. */
  get queuedMs(): number {
    return (this.#posted - this.#consumed) * 20 + Math.floor(this.#pending.length / 8);
  }

  /**
   * Queues 16-bit PCM at 8 kHz for the peer, any length; it goes out in 20 ms frames, one every
   * 20 ms. A trailing partial frame waits for the next call (or `flush`). Frames paced out before
   * the leg is active are lost: start speaking after `leg.whenActive()`. Once the pacing thread
   * died, nothing is sent (the agent falls silent).
   */
  send(pcm: Int16Array): void {
    if (this.#outState !== 'sending' || !this.#out) return;
    let samples = pcm;
    if (this.#pending.length) {
      samples = new Int16Array(this.#pending.length + pcm.length);
      samples.set(this.#pending);
      samples.set(pcm, this.#pending.length);
    }
    const whole = samples.length - (samples.length % samplesPerFrame);
    if (whole) {
      // A buffer of its own (not the pool's), so it can be moved to the thread rather than copied.
      const { frames, sizes } = this.#codec.encode(samples.subarray(0, whole));
      this.#out.stream.post({ op: 'frames', id: this.#out.stream.id, frames, ...(sizes ? { sizes } : {}) }, [frames.buffer as ArrayBuffer]);
      this.#posted += whole / samplesPerFrame;
    }
    this.#pending = samples.slice(whole);
  }

  /** Pads a trailing partial frame with silence and queues it. */
  flush(): void {
    if (!this.#pending.length) return;
    this.send(new Int16Array(samplesPerFrame - this.#pending.length));
  }

  /**
   * Stops the agent's audio on the wire at once, keeping what is queued, for at most `ms` (the
   * caller may be starting to talk over it): `clear` when they are, `release` when not, and after
   * `ms` it goes on by itself. The audio goes on as a new talkspurt, nothing lost.
   */
  hold(ms: number): void {
    this.#out?.stream.post({ op: 'hold', id: this.#out.stream.id, ms });
  }

  /** Ends a `hold`. */
  release(): void {
    this.#out?.stream.post({ op: 'release', id: this.#out.stream.id });
  }

  /** Drops everything queued (the caller barged in), and ends any `hold`. */
  clear(): void {
    this.#out?.stream.post({ op: 'clear', id: this.#out.stream.id });
    this.#consumed = this.#posted;
    this.#pending = new Int16Array(0);
  }

  /**
   * The payload type RFC 4733 events reach the peer at, or null when they cannot: the peer did
   * not offer telephone-event, or uses a type mediasoup cannot carry to it (see
   * `eventCarrierOut`). Then DTMF goes by SIP INFO.
   */
  get dtmfPayloadType(): number | null {
    const te = this.source.negotiation.telephoneEvent;
    return te && eventCarrierOut(te.payloadType) ? te.payloadType : null;
  }

  /**
   * Sends `digits` (0-9, *, #, A-D) to the peer as RFC 4733 events on the agent's stream: one
   * event per digit, `toneMs` long, `gapMs` apart, each built by `eventPackets` and sent at 20 ms
   * intervals by the pacing thread. Audio queued or sent meanwhile waits (events replace it, RFC
   * 4733 §2.5.1.2) and follows as a new talkspurt. Calls queue behind one another. Resolves once
   * the last digit's end packets are sent; rejects with `InvalidDtmfError`, `RangeError`
   * (timing), `DtmfNotNegotiatedError`, `LegClosedError` when the seam closes first, or
   * `PacerThreadError` when the pacing thread died.
   */
  async sendDtmf(digits: string, timing: Partial<DtmfTiming> = {}): Promise<void> {
    assertDtmfDigits(digits);
    const t = checkDtmfTiming({ ...defaultDtmfTiming, ...timing });
    if (this.#closed) throw new LegClosedError('audio closed');
    if (this.#outState !== 'sending' || !this.#out) throw new PacerThreadError('agent audio is not being sent');
    const payloadType = this.dtmfPayloadType;
    if (payloadType === null) throw new DtmfNotNegotiatedError();
    const req = ++this.#dtmfReq;
    const stream = this.#out.stream;
    return new Promise<void>((resolve, reject) => {
      this.#dtmfWaiting.set(req, { resolve, reject });
      stream.post({ op: 'dtmf', id: stream.id, req, digits, timing: t, payloadType });
    });
  }

  /** Closes both directions: the thread's stream, both transports. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#offProducer();
    this.#stopOutgoing('closed', new LegClosedError('audio closed'));
    this.#direct?.close();
    this.#consumer = null;
    this.emit('close');
    this.removeAllListeners();
  }

  /** A PlainTransport on loopback connected to the pacing thread's socket, and our stream on it. */
  async #openOutgoing(): Promise<void> {
    const transport = await this.source.router.createPlainTransport({ listenIp: loopback, rtcpMux: true, comedia: false });
    let stream: PacerStream;
    try {
      stream = await this.source.pacer.attach({
        sent: (timestamp, sequence, at, batch, offset, size) => this.#sent(timestamp, sequence, at, batch, offset, size),
        received: (packet) => this.#receive(packet),
        consumed: (frames) => (this.#consumed = Math.max(this.#consumed, frames)),
        dtmf: (req, ok) => this.#dtmfDone(req, ok),
        fail: (err) => this.#failed(err),
      });
    } catch (err) {
      transport.close();
      throw err;
    }
    this.#out = { transport, stream };
    if (this.#closed) return this.#stopOutgoing('closed', new LegClosedError('audio closed'));
    await transport.connect({ ip: loopback, port: stream.port });
    stream.post({
      op: 'open',
      id: stream.id,
      ssrc: this.#ssrc,
      sequence: randomInt(0, 65536),
      port: transport.tuple.localPort,
      payloadType: this.#codec.codec.payloadType,
      clockRate: this.#codec.codec.clockRate,
    });
    if (this.#outState === 'opening') this.#outState = 'sending';
  }

  /** Ends the outgoing side: `closed` with the seam, `failed` when the thread died. */
  #stopOutgoing(to: 'failed' | 'closed', err: Error): void {
    if (this.#outState === 'closed' || this.#outState === to) return;
    this.#outState = to;
    const out = this.#out;
    if (out) {
      out.stream.post({ op: 'close', id: out.stream.id });
      out.stream.detach();
      if (to === 'closed') out.transport.close();
    }
    this.#consumed = this.#posted;
    this.#pending = new Int16Array(0);
    for (const w of this.#dtmfWaiting.values()) w.reject(err);
    this.#dtmfWaiting.clear();
  }

  /** The thread died: the agent falls silent, and the peer's audio comes by a DirectTransport from now on. */
  #failed(err: PacerThreadError): void {
    this.#stopOutgoing('failed', err);
    if (this.#closed || this.#direct) return;
    const producer = this.#consumer ? this.source.producer : null;
    this.#consumer?.close();
    this.#consumer = null;
    void this.#fallBack(producer).catch((e: unknown) => this.#onError('fallback', e));
  }

  async #fallBack(producer: ms.Producer | null): Promise<void> {
    const direct = await this.source.router.createDirectTransport();
    if (this.#closed) return direct.close();
    this.#direct = direct;
    if (producer && !producer.closed) await this.#listen(producer);
  }

  /** A frame of ours left the thread: told to whoever listens (a recording, a benchmark). */
  #sent(timestamp: number, sequence: number, atMs: number, batch: Uint8Array, offset: number, size: number): void {
    if (this.listenerCount('paced')) this.emit('paced', sequence, atMs);
    if (!this.listenerCount('sent')) return;
    const f = this.#codec.decodeSent(batch.subarray(offset, offset + size), timestamp);
    this.emit('sent', f.pcm, f.timestamp);
  }

  #dtmfDone(req: number, ok: boolean): void {
    const w = this.#dtmfWaiting.get(req);
    this.#dtmfWaiting.delete(req);
    if (ok) w?.resolve();
    else w?.reject(new LegClosedError('audio closed'));
  }

  /** Our Producer, in the leg's codec, and the leg switched to sending it. */
  async #produce(): Promise<void> {
    const out = this.#out;
    if (!out || this.#closed) return;
    const changed = this.source.codec.name !== this.#codec.codec.name;
    if (changed) this.#codec = frameCodec(this.source.codec);
    const codec = this.#codec.codec;
    const old = this.#producer;
    this.#producer = await out.transport.produce({ kind: 'audio', rtpParameters: agentRtpParameters(codec, this.#ssrc) });
    if (old) {
      old.close();
      if (changed) {
        // Frames queued in the previous codec are dropped; the stream starts again in this one.
        out.stream.post({ op: 'codec', id: out.stream.id, payloadType: codec.payloadType, clockRate: codec.clockRate });
        this.#consumed = this.#posted;
      }
    }
    await this.source.play(this.#producer);
  }

  /**
   * Consumes the peer's audio (again, after a re-latch) and follows a codec change: on our
   * PlainTransport (its RTP goes to the thread, which passes it on), or on the DirectTransport
   * once the thread died.
   */
  async #listen(producer: ms.Producer): Promise<void> {
    if (this.#closed) return;
    if (this.source.codec.name !== this.#codec.codec.name) await this.#produce();
    const transport = this.#direct ?? this.#out?.transport;
    if (!transport || this.#closed) return;
    this.#consumer?.close();
    this.#consumer = null;
    const consumer = await transport.consume({
      producerId: producer.id,
      rtpCapabilities: { codecs: routerMediaCodecs, headerExtensions: [] },
    });
    if (this.#closed) return consumer.close();
    this.#consumer = consumer;
    if (transport === this.#direct) consumer.on('rtp', (packet: Buffer) => this.#receive(packet));
  }

  /** One RTP packet of the peer's: decoded into frames, or an RFC 4733 event. */
  #receive(packet: Buffer): void {
    const h = readRtpHeader(packet);
    if (!h) return;
    const frames = this.#codec;
    const payload = packet.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength);
    if (h.payloadType === frames.codec.payloadType) {
      let decoded;
      try {
        decoded = frames.decode(payload, h.timestamp);
      } catch {
        // A browser's packet that is not Opus: lost audio, not a failed call.
        this.#undecodable++;
        return;
      }
      for (const f of decoded) this.emit('frame', { pcm: f.pcm, payload, sequence: h.sequence, timestamp: f.timestamp });
    } else if (h.payloadType === eventCarrier(frames.codec).payloadType) {
      const dtmf = this.#dtmf.receive(h.timestamp, payload);
      if (dtmf) this.emit('dtmf', dtmf);
    }
  }
}
