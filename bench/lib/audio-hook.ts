/**
 * The benchmark's view into an in-process engine's agent audio, through mediasoup's observer
 * API (no change to the product's hot path): every DirectTransport (a `LegAudio`) gets a
 * listener on its Consumer's `rtp` event (the same emit that fires `LegAudio`'s `frame` event,
 * immediately before it) and a wrapper around its Producer's `send` (what the pacer hands to
 * mediasoup). Inbound frames are known by their tag (`audio-tag.ts`), which also names the phone;
 * outbound packets by their RTP sequence number, on the transport of that phone.
 */
import * as mediasoup from 'mediasoup';
import type { types as ms } from 'mediasoup';
import { readRtpHeader } from '../../media/rtp/packet.js';
import { monoMs, readTag } from './audio-tag.js';

/** Calls are told apart by the tag's high bits: `index * 2^20 + frame`. */
export const tagCallShift = 2 ** 20;

export interface AudioSeam {
  /** The phone's call index, once one of its tagged frames has arrived. */
  call: number | null;
  /** Agent packets handed to mediasoup: [RTP sequence, time]. */
  sent: [number, number][];
}

export class AudioHook {
  /** Tag -> arrival time of the frame at the engine (ms, monotonic). */
  readonly arrived = new Map<number, number>();
  readonly seams: AudioSeam[] = [];
  #on = false;

  /** Starts watching workers created from now on (call before the engine starts). */
  constructor() {
    mediasoup.observer.on('newworker', (w: ms.Worker) => w.observer.on('newrouter', (r: ms.Router) => r.observer.on('newtransport', (t: ms.Transport) => this.#transport(t))));
  }

  /** Records only while on (between runs the maps are cleared). */
  start(): void {
    this.arrived.clear();
    this.seams.length = 0;
    this.#on = true;
  }

  stop(): void {
    this.#on = false;
  }

  #transport(t: ms.Transport): void {
    if (t.constructor.name !== 'DirectTransport') return;
    const seam: AudioSeam = { call: null, sent: [] };
    if (this.#on) this.seams.push(seam);
    t.observer.on('newconsumer', (c: ms.Consumer) => {
      c.on('rtp', (packet: Buffer) => {
        if (!this.#on) return;
        const at = monoMs();
        const h = readRtpHeader(packet);
        if (!h) return;
        const tag = readTag(packet.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength));
        if (tag === null) return;
        this.arrived.set(tag, at);
        seam.call ??= Math.floor(tag / tagCallShift);
      });
    });
    t.observer.on('newproducer', (p: ms.Producer) => {
      const send = p.send.bind(p);
      p.send = (packet: Buffer) => {
        if (this.#on) seam.sent.push([packet.readUInt16BE(2), monoMs()]);
        send(packet);
      };
    });
  }
}
