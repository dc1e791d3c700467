/**
 * The mediasoup objects under one call leg: its transport (a PlainTransport for a SIP leg, a
 * WebRtcTransport for a browser's), the Producer for the peer's audio, and the one Consumer that
 * feeds the peer (its own audio for echo, or another Producer). Closing the transport closes the
 * Producer and Consumer with it; counters survive re-latches.
 */
import type { types as ms } from 'mediasoup';
import type { Logger } from '../config/logger.js';
import { peerRtpCapabilities, producerRtpParameters } from './rtp-parameters.js';
import type { Latch } from './rtp/latch.js';
import type { Negotiation } from './sdp/types.js';

/** What the peer hears: its own audio, or another Producer on the same router. */
type Feed = { kind: 'echo' } | { kind: 'producer'; producer: ms.Producer };

export interface LegCounters {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
}

const zero = (): LegCounters => ({ packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0 });

export class LegMedia<T extends ms.Transport = ms.PlainTransport> {
  transport: T | null = null;
  producer: ms.Producer | null = null;
  #consumer: ms.Consumer | null = null;
  #feed: Feed | null = null;
  #negotiation: Negotiation | null = null;
  #sending = true;
  #past = zero();
  #closed = false;
  /** The counters read as the leg closed itself (`close(true)`), for `counters()` after it. */
  #final: Promise<LegCounters> | null = null;

  constructor(
    private readonly worker: ms.Worker,
    private readonly router: ms.Router,
    private readonly listen: { ip: string; announcedIp?: string },
    private readonly port: number,
    private readonly log: Logger,
  ) {}

  /**
   * Opens the transport on the leg's port, connected to where the peer's first packet came from
   * (the latch), with a Producer for the peer's SSRC (none when the peer has not sent yet) and
   * the Consumer for the current feed.
   */
  async open(this: LegMedia<ms.PlainTransport>, n: Negotiation, latch: Latch, rtcpPort: number, sending: boolean, onRouterClose: () => void): Promise<void> {
    const transport = await this.router.createPlainTransport({
      listenIp: this.listen,
      port: this.port,
      rtcpMux: n.remote.rtcpMux,
      // The latch already did comedia's job with a checked packet; connecting to its source
      // leaves no window in which a stray datagram could take the tuple.
      comedia: false,
    });
    if (this.#closed) return transport.close();
    this.transport = transport;
    transport.on('routerclose', onRouterClose);
    // Both asked in one turn (one write to the worker, which handles them in order): the
    // Producer needs nothing from the connect's answer.
    const [, producer] = await Promise.all([
      transport.connect(n.remote.rtcpMux ? { ip: latch.ip, port: latch.port } : { ip: latch.ip, port: latch.port, rtcpPort }),
      latch.ssrc !== null ? transport.produce({ kind: 'audio', rtpParameters: producerRtpParameters(n, latch.ssrc) }) : null,
    ]);
    await this.adopt(transport, producer, n, sending);
  }

  /**
   * Takes a transport opened (and connected) by the leg, with the Producer of the peer's audio
   * when there is one, and connects the current feed to it. The transport is then this object's
   * to close.
   */
  async adopt(transport: T, producer: ms.Producer | null, n: Negotiation, sending: boolean): Promise<void> {
    if (this.#closed) return transport.close();
    this.transport = transport;
    this.producer = producer;
    this.#negotiation = n;
    this.#sending = sending;
    await this.#connectFeed();
  }

  /**
   * Swaps the Producer of the peer's audio (a new SSRC or codec on the same transport), keeping
   * the old one's counters, and connects the feed again (an echo follows the new Producer).
   */
  async replaceProducer(producer: ms.Producer, n: Negotiation): Promise<void> {
    const old = this.producer;
    const consumer = this.#consumer;
    await this.#fold(old, consumer);
    this.#consumer = null;
    consumer?.close();
    old?.close();
    this.producer = producer;
    this.#negotiation = n;
    await this.#connectFeed();
  }

  /** The Consumer feeding the peer, when there is one (its SSRC is what the peer receives). */
  get consumer(): ms.Consumer | null {
    return this.#consumer;
  }

  /** True when the feed is a Producer of our own (an agent): something to send without the peer's RTP. */
  get feedsProducer(): boolean {
    return this.#feed?.kind === 'producer';
  }

  async setFeed(feed: Feed | null, n: Negotiation): Promise<void> {
    this.#feed = feed;
    this.#negotiation = n;
    if (this.transport) await this.#connectFeed();
  }

  /** Pauses (hold) or resumes what goes to the peer. */
  async setSending(sending: boolean): Promise<void> {
    this.#sending = sending;
    const c = this.#consumer;
    if (!c || c.closed) return;
    if (sending) await c.resume();
    else await c.pause();
  }

  /** Closes the transport and waits until the worker has let go of the port. */
  async release(): Promise<void> {
    await this.#fold(this.producer, this.#consumer);
    this.transport?.close();
    this.transport = null;
    this.producer = null;
    this.#consumer = null;
    // The worker handles requests in order: once this answers, the socket is closed.
    await this.worker.getResourceUsage();
  }

  /**
   * Closes the transport (and its Producer and Consumer). With `keepCounters` (a leg closing by
   * itself, before its call has read them) the counters are asked for first: the worker answers
   * requests in order, so they arrive before the close, and `counters()` returns them afterwards.
   */
  close(keepCounters = false): void {
    if (keepCounters && !this.#closed && this.transport) this.#final = this.counters().catch(() => ({ ...this.#past }));
    this.#closed = true;
    this.transport?.close();
    this.transport = null;
    this.producer = null;
    this.#consumer = null;
  }

  async counters(): Promise<LegCounters> {
    if (this.#final) return this.#final;
    const c = { ...this.#past };
    const [inbound, outbound] = await Promise.all([statsOf(this.producer, 'inbound-rtp'), statsOf(this.#consumer, 'outbound-rtp')]);
    c.packetsIn += inbound.packets;
    c.bytesIn += inbound.bytes;
    c.packetsOut += outbound.packets;
    c.bytesOut += outbound.bytes;
    return c;
  }

  /** The transport's raw and matched receive counters, or null without an open transport. */
  async transportCounters(): Promise<{ bytesReceived: number; rtpBytesReceived: number } | null> {
    const t = this.transport;
    if (!t || t.closed) return null;
    try {
      const [s] = await t.getStats();
      return s ? { bytesReceived: s.bytesReceived, rtpBytesReceived: s.rtpBytesReceived } : null;
    } catch (err) {
      if (t.closed && !this.worker.died) return null; // closed under us by a re-latch or close
      throw err;
    }
  }

  async #connectFeed(): Promise<void> {
    const old = this.#consumer;
    this.#consumer = null;
    if (old) {
      await this.#fold(null, old);
      old.close();
    }
    const source = this.#feed?.kind === 'echo' ? this.producer : (this.#feed?.producer ?? null);
    const t = this.transport;
    const n = this.#negotiation;
    if (!source || source.closed || !t || !n) return;
    const caps = peerRtpCapabilities(n);
    if (!this.router.canConsume({ producerId: source.id, rtpCapabilities: caps })) {
      this.log.warn({ producerId: source.id, codec: n.codec.name }, 'feed cannot be sent in the negotiated codec');
      return;
    }
    const consumer = await t.consume({ producerId: source.id, rtpCapabilities: caps, paused: !this.#sending });
    if (t.closed) return;
    this.#consumer = consumer;
    consumer.on('producerclose', () => {
      if (this.#consumer === consumer) this.#consumer = null;
    });
  }

  /** Adds the counters of a Producer and Consumer about to close to the leg's totals. */
  async #fold(producer: ms.Producer | null, consumer: ms.Consumer | null): Promise<void> {
    const [inbound, outbound] = await Promise.all([statsOf(producer, 'inbound-rtp'), statsOf(consumer, 'outbound-rtp')]);
    this.#past.packetsIn += inbound.packets;
    this.#past.bytesIn += inbound.bytes;
    this.#past.packetsOut += outbound.packets;
    this.#past.bytesOut += outbound.bytes;
  }
}

/** A Producer's inbound or a Consumer's outbound RTP counters; zero when closed or unseen. */
async function statsOf(o: ms.Producer | ms.Consumer | null, want: 'inbound-rtp' | 'outbound-rtp'): Promise<{ packets: number; bytes: number }> {
  if (!o || o.closed) return { packets: 0, bytes: 0 };
  try {
    const all = (await o.getStats()) as { type: string; packetCount: number; byteCount: number }[];
    const s = all.find((x) => x.type === want);
    return { packets: s?.packetCount ?? 0, bytes: s?.byteCount ?? 0 };
  } catch {
    return { packets: 0, bytes: 0 };
  }
}
