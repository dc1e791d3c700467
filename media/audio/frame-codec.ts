/**
 * A leg's codec as the agent runtime sees it: 20 ms frames of 8 kHz PCM (160 samples) in and
 * out, whatever travels on the wire. G.711 is one byte per sample at an 8 kHz RTP clock; Opus
 * (browser legs) is one packet per frame at a 48 kHz RTP clock (RFC 7587 §4.1), and a packet may
 * hold more or less than 20 ms, so decoded audio is re-cut into 20 ms frames. RTP timestamps are
 * given to the runtime (recording) on an 8 kHz clock either way.
 */
import type { AudioCodec } from '../sdp/types.js';
import { isG711 } from '../sdp/types.js';
import { g711Decode, g711Encode } from './g711.js';
import { OpusDecoder, OpusEncoder } from './opus.js';

/** 20 ms at 8 kHz. */
export const samplesPerFrame = 160;

/** One 20 ms frame of the peer's audio, with its place on an 8 kHz clock. */
export interface DecodedFrame {
  pcm: Int16Array;
  timestamp: number;
}

export interface FrameCodec {
  readonly codec: AudioCodec;
  /** Whole frames of `pcm` (a multiple of 160 samples) as payloads back to back, in a buffer of their own; `sizes` when they vary. */
  encode(pcm: Int16Array): { frames: Uint8Array; sizes?: number[] };
  /** A received payload with its RTP timestamp: the 20 ms frames it completes (Opus: throws `OpusPacketError` when it is not Opus). */
  decode(payload: Uint8Array, timestamp: number): DecodedFrame[];
  /** One payload of ours as sent, with its RTP timestamp, for the recording. */
  decodeSent(payload: Uint8Array, timestamp: number): DecodedFrame;
}

/** The frame codec for `codec`; Opus throws when its package is not available. */
export function frameCodec(codec: AudioCodec): FrameCodec {
  return isG711(codec) ? g711Frames(codec) : new OpusFrames(codec);
}

function g711Frames(codec: AudioCodec & { name: 'PCMU' | 'PCMA' }): FrameCodec {
  const law = codec.name;
  return {
    codec,
    encode: (pcm) => ({ frames: g711Encode(law, pcm, Buffer.alloc(pcm.length)) }),
    decode: (payload, timestamp) => [{ pcm: g711Decode(law, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)), timestamp }],
    decodeSent: (payload, timestamp) => ({ pcm: g711Decode(law, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)), timestamp }),
  };
}

/**
 * An RTP clock seen on an 8 kHz one: each timestamp moves the output by its signed 32-bit
 * distance from the last one, divided by `ratio`, so wrap-around and reordering carry over.
 */
class ClockScale {
  #lastIn: number | null = null;
  #lastOut = 0;
  constructor(private readonly ratio: number) {}

  at(timestamp: number): number {
    if (this.#lastIn === null) {
      this.#lastIn = timestamp;
      this.#lastOut = Math.floor(timestamp / this.ratio);
      return this.#lastOut;
    }
    const delta = (timestamp - this.#lastIn) | 0;
    this.#lastIn = timestamp;
    this.#lastOut = (this.#lastOut + Math.round(delta / this.ratio)) >>> 0;
    return this.#lastOut;
  }
}

class OpusFrames implements FrameCodec {
  readonly #enc = new OpusEncoder();
  readonly #dec = new OpusDecoder();
  /** Only the recording decodes what we sent, and only while it listens. */
  #sentDec: OpusDecoder | null = null;
  readonly #inClock = new ClockScale(48_000 / 8000);
  readonly #sentClock = new ClockScale(48_000 / 8000);
  /** Decoded samples not yet a whole frame (packets of 2.5, 5 or 10 ms), and the 8 kHz time of the first. */
  #rest = new Int16Array(0);
  #restAt = 0;

  constructor(readonly codec: AudioCodec) {}

  encode(pcm: Int16Array): { frames: Uint8Array; sizes: number[] } {
    const packets: Uint8Array[] = [];
    for (let i = 0; i + samplesPerFrame <= pcm.length; i += samplesPerFrame) packets.push(this.#enc.encode(pcm.subarray(i, i + samplesPerFrame)));
    const sizes = packets.map((p) => p.length);
    const frames = new Uint8Array(sizes.reduce((a, b) => a + b, 0));
    let at = 0;
    for (const p of packets) {
      frames.set(p, at);
      at += p.length;
    }
    return { frames, sizes };
  }

  decode(payload: Uint8Array, timestamp: number): DecodedFrame[] {
    const pcm = this.#dec.decode(payload);
    const at = this.#inClock.at(timestamp);
    if (pcm.length === samplesPerFrame && this.#rest.length === 0) return [{ pcm, timestamp: at }];
    let all = pcm;
    let start = at;
    if (this.#rest.length) {
      all = new Int16Array(this.#rest.length + pcm.length);
      all.set(this.#rest);
      all.set(pcm, this.#rest.length);
      start = this.#restAt;
    }
    const out: DecodedFrame[] = [];
    let i = 0;
    for (; i + samplesPerFrame <= all.length; i += samplesPerFrame) out.push({ pcm: all.slice(i, i + samplesPerFrame), timestamp: (start + i) >>> 0 });
    this.#rest = all.slice(i);
    this.#restAt = (start + i) >>> 0;
    return out;
  }

  decodeSent(payload: Uint8Array, timestamp: number): DecodedFrame {
    this.#sentDec ??= new OpusDecoder();
    const at = this.#sentClock.at(timestamp);
    try {
      const pcm = this.#sentDec.decode(payload);
      return { pcm: pcm.length === samplesPerFrame ? pcm : padTo(pcm, samplesPerFrame), timestamp: at };
    } catch {
      // Our own silence frame (see pacer-worker.ts) decodes; anything else we sent was encoded here.
      return { pcm: new Int16Array(samplesPerFrame), timestamp: at };
    }
  }
}

function padTo(pcm: Int16Array, n: number): Int16Array {
  const out = new Int16Array(n);
  out.set(pcm.subarray(0, n));
  return out;
}
