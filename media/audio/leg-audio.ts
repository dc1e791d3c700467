/**
 * The seam between a SIP leg and the agent runtime: decoded 20 ms frames and DTMF out of the
 * call, 16-bit PCM and RFC 4733 digits into it, paced at 20 ms. Both directions go through one mediasoup
 * DirectTransport on the leg's router: a Consumer of the leg's Producer delivers the peer's RTP
 * to Node, and a Producer of ours (fixed SSRC) is what the leg sends to the peer. This is the one
 * place where Node handles every packet of a call, and only for calls that have an agent.
 */
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { types as ms } from 'mediasoup';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import { LegClosedError } from '../errors.js';
import { agentRtpParameters, eventCarrier, eventCarrierOut, routerMediaCodecs } from '../rtp-parameters.js';
import { readRtpHeader, writeRtpPacket } from '../rtp/packet.js';
import type { AudioCodec, Negotiation } from '../sdp/types.js';
import {
  assertDtmfDigits,
  checkDtmfTiming,
  defaultDtmfTiming,
  DtmfNotNegotiatedError,
  DtmfReceiver,
  eventPackets,
  type Dtmf,
  type DtmfTiming,
} from './dtmf.js';
import { g711Decode, g711Encode } from './g711.js';
import { FramePacer } from './pacer.js';

/** 20 ms at 8 kHz. */
const samplesPerFrame = 160;

export interface AudioFrame {
  /** 160 samples of 16-bit linear PCM at 8 kHz. */
  pcm: Int16Array;
  /** The G.711 payload as received. */
  payload: Buffer;
  sequence: number;
  timestamp: number;
}

type LegAudioEvents = {
  frame: [frame: AudioFrame];
  /** A frame of ours as it is paced out to the peer (20 ms of 8 kHz PCM): what a recording hears. */
  sent: [pcm: Int16Array, timestamp: number];
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
}

export class LegAudio extends TypedEmitter<LegAudioEvents> {
  readonly #transport: ms.DirectTransport;
  readonly #dtmf = new DtmfReceiver();
  readonly #pacer: FramePacer;
  readonly #offProducer: () => void;
  #codec: AudioCodec;
  #producer: ms.Producer | null = null;
  #consumer: ms.Consumer | null = null;
  #ssrc = randomInt(1, 2 ** 32 - 1);
  #sequence = randomInt(0, 65536);
  #pending: Int16Array = new Int16Array(0);
  /** True once our Producer sent a packet of its first codec: mediasoup drops others before. */
  #streamStarted = false;
  /** Digit strings play one after the other. */
  #dtmfQueue: Promise<unknown> = Promise.resolve();
  readonly #closing = new AbortController();
  #closed = false;

  private constructor(
    private readonly source: AudioSource,
    transport: ms.DirectTransport,
    onListenerError: (event: string, error: unknown) => void,
  ) {
    super(onListenerError);
    this.#transport = transport;
    this.#codec = source.codec;
    this.#pacer = new FramePacer((f) => {
      this.#sendRtp(f.payload, f.marker, f.timestamp);
      if (this.listenerCount('sent')) this.emit('sent', g711Decode(this.#codec.name, f.payload), f.timestamp);
    });
    this.#offProducer = source.onProducer((p) => void this.#listen(p).catch((err: unknown) => onListenerError('producer', err)));
  }

  /** Opens the seam: the peer's audio starts arriving as `frame` events, and the peer hears `send`. */
  static async open(source: AudioSource, onListenerError: (event: string, error: unknown) => void): Promise<LegAudio> {
    const transport = await source.router.createDirectTransport();
    const audio = new LegAudio(source, transport, onListenerError);
    try {
      await audio.#produce();
      if (source.producer) await audio.#listen(source.producer);
    } catch (e) {
      audio.close();
      throw e;
    }
    return audio;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Milliseconds of audio queued for the peer. */
  get queuedMs(): number {
    return this.#pacer.queued * 20 + Math.floor(this.#pending.length / 8);
  }

  /**
   * Queues 16-bit PCM at 8 kHz for the peer, any length; it goes out in 20 ms frames, one every
   * 20 ms. A trailing partial frame waits for the next call (or `flush`). Frames paced out before
   * the leg is active are lost: start speaking after `leg.whenActive()`.
   */
  send(pcm: Int16Array): void {
    if (this.#closed) return;
    let samples = pcm;
    if (this.#pending.length) {
      samples = new Int16Array(this.#pending.length + pcm.length);
      samples.set(this.#pending);
      samples.set(pcm, this.#pending.length);
    }
    let i = 0;
    for (; i + samplesPerFrame <= samples.length; i += samplesPerFrame) {
      this.#pacer.push(g711Encode(this.#codec.name, samples.subarray(i, i + samplesPerFrame)));
    }
    this.#pending = samples.slice(i);
  }

  /** Pads a trailing partial frame with silence and queues it. */
  flush(): void {
    if (!this.#pending.length) return;
    this.send(new Int16Array(samplesPerFrame - this.#pending.length));
  }

  /** Drops everything queued (the caller barged in). */
  clear(): void {
    this.#pacer.clear();
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
   * intervals. Audio queued or sent meanwhile waits (events replace it, RFC 4733 §2.5.1.2) and
   * follows as a new talkspurt. Calls queue behind one another. Resolves once the last digit's
   * end packets are sent; rejects with `InvalidDtmfError`, `RangeError` (timing),
   * `DtmfNotNegotiatedError`, or `LegClosedError` when the seam closes first.
   */
  async sendDtmf(digits: string, timing: Partial<DtmfTiming> = {}): Promise<void> {
    assertDtmfDigits(digits);
    const t = checkDtmfTiming({ ...defaultDtmfTiming, ...timing });
    const run = this.#dtmfQueue.then(() => this.#playDigits(digits, t));
    this.#dtmfQueue = run.catch(() => undefined);
    return run;
  }

  /** Closes the DirectTransport and with it both directions. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort(new LegClosedError('audio closed'));
    this.#offProducer();
    this.#pacer.close();
    this.#transport.close();
    this.emit('close');
    this.removeAllListeners();
  }

  /** Our Producer, in the leg's codec, and the leg switched to sending it. */
  async #produce(): Promise<void> {
    this.#codec = this.source.codec;
    const old = this.#producer;
    this.#producer = await this.#transport.produce({ kind: 'audio', rtpParameters: agentRtpParameters(this.#codec, this.#ssrc) });
    this.#streamStarted = false;
    if (old) {
      old.close();
      this.#pacer.clear(); // frames queued in the previous law
    }
    await this.source.play(this.#producer);
  }

  /** Consumes the peer's audio (again, after a re-latch) and follows a codec change. */
  async #listen(producer: ms.Producer): Promise<void> {
    if (this.#closed) return;
    if (this.source.codec.name !== this.#codec.name) await this.#produce();
    this.#consumer?.close();
    const consumer = await this.#transport.consume({
      producerId: producer.id,
      rtpCapabilities: { codecs: routerMediaCodecs, headerExtensions: [] },
    });
    this.#consumer = consumer;
    const audioPt = this.#codec.payloadType;
    const eventPt = eventCarrier(this.#codec).payloadType;
    consumer.on('rtp', (packet: Buffer) => {
      const h = readRtpHeader(packet);
      if (!h) return;
      const payload = packet.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength);
      if (h.payloadType === audioPt) {
        this.emit('frame', { pcm: g711Decode(this.#codec.name, payload), payload, sequence: h.sequence, timestamp: h.timestamp });
      } else if (h.payloadType === eventPt) {
        const dtmf = this.#dtmf.receive(h.timestamp, payload);
        if (dtmf) this.emit('dtmf', dtmf);
      }
    });
  }

  async #playDigits(digits: string, timing: DtmfTiming): Promise<void> {
    const signal = this.#closing.signal;
    signal.throwIfAborted();
    const payloadType = this.dtmfPayloadType;
    if (payloadType === null) throw new DtmfNotNegotiatedError();
    const until = async (at: number) => {
      const wait = at - performance.now();
      // Closing aborts the wait; the caller gets the LegClosedError, not an AbortError.
      if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
      signal.throwIfAborted();
    };
    this.#pacer.pause();
    try {
      let start = performance.now();
      if (!this.#streamStarted) {
        // One frame of silence first: mediasoup creates our stream on the audio codec only.
        const ts = this.#pacer.clock(start);
        this.#sendRtp(g711Encode(this.#codec.name, new Int16Array(samplesPerFrame)), true, ts);
        this.#pacer.advance(ts + samplesPerFrame, start + 20);
        start += 20;
      }
      const period = timing.toneMs + timing.gapMs;
      for (const [i, digit] of [...digits].entries()) {
        const at = start + i * period;
        await until(at);
        // All packets of one event share the timestamp of its start (RFC 4733 §2.5.1.2).
        const timestamp = this.#pacer.clock(at);
        for (const p of eventPackets(digit, timing.toneMs)) {
          await until(at + p.atMs);
          this.#sendRtp(p.payload, p.marker, timestamp, payloadType);
        }
        this.#pacer.advance(timestamp + timing.toneMs * 8, at + timing.toneMs);
      }
    } finally {
      this.#pacer.resume();
    }
  }

  #sendRtp(payload: Buffer, marker: boolean, timestamp: number, payloadType: number = this.#codec.payloadType): void {
    const p = this.#producer;
    if (!p || p.closed) return;
    const packet = writeRtpPacket({ marker, payloadType, sequence: this.#sequence, timestamp, ssrc: this.#ssrc }, payload);
    this.#sequence = (this.#sequence + 1) & 0xffff;
    if (payloadType === this.#codec.payloadType) this.#streamStarted = true;
    p.send(packet);
  }
}
