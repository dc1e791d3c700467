/**
 * Opus (RFC 6716) for the agent path of browser legs: `@evan/opus`, libopus bound natively (its
 * npm package ships the binaries for Linux, macOS and Windows on x64 and arm64; elsewhere its
 * WebAssembly build), chosen by `bench/opus-codec.ts` for the least CPU per call-second of the
 * packages that install from the npm registry alone.
 *
 * The PCM side runs at the agent runtime's 8 kHz: libopus converts to and from its internal
 * 48 kHz itself, which costs less than our resampler would and keeps the runtime's frames as they
 * are. On the wire the stream is still opus/48000/2 with a 48 kHz timestamp (RFC 7587 §4.1);
 * a mono encoder is fine, as §3.4 lets the sender choose.
 *
 * The package is loaded on first use; without it (not installed, or no build for the platform)
 * `opusAvailable()` is false and browser legs speak G.711.
 */
import { createRequire } from 'node:module';

/** The runtime's frame: 20 ms at 8 kHz. */
export const opusPcmRate = 8000;
const frameSamples = 160;
/** Voice at 8 kHz needs no more (narrowband Opus is transparent well below this). */
const bitrate = 24_000;
/** The largest packet libopus decodes: 120 ms (RFC 6716 §3.2.5), at our rate. */
const maxDecodedSamples = (120 * opusPcmRate) / 1000;

interface EvanOpus {
  Encoder: new (o: { channels: 1; sample_rate: number; application: 'voip' }) => { encode(pcm: ArrayBufferView): Uint8Array; bitrate: number | 'auto' };
  Decoder: new (o: { channels: 1; sample_rate: number }) => { decode(packet: ArrayBufferView): Uint8Array };
}

let loaded: { mod: EvanOpus } | { error: string } | null = null;

function load(): { mod: EvanOpus } | { error: string } {
  if (!loaded) {
    try {
      loaded = { mod: createRequire(import.meta.url)('@evan/opus') as EvanOpus };
    } catch (err) {
      loaded = { error: (err as Error).message.split('\n')[0]! };
    }
  }
  return loaded;
}

/** True when the Opus package loads; browser legs are offered and answered Opus only then. */
export function opusAvailable(): boolean {
  return 'mod' in load();
}

/** Why Opus is not available (for the log line), or null when it is. */
export function opusUnavailableReason(): string | null {
  const l = load();
  return 'error' in l ? l.error : null;
}

/** A packet that is not Opus (RFC 6716 §3.4's rules, as libopus checks them). */
export class OpusPacketError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OpusPacketError';
  }
}

/** One direction's encoder: 20 ms of 8 kHz PCM in, one Opus packet out. */
export class OpusEncoder {
  readonly #enc: InstanceType<EvanOpus['Encoder']>;

  constructor() {
    const l = load();
    if ('error' in l) throw new Error(`Opus is not available: ${l.error}`);
    this.#enc = new l.mod.Encoder({ channels: 1, sample_rate: opusPcmRate, application: 'voip' });
    this.#enc.bitrate = bitrate;
  }

  /** One packet for one 160-sample frame (a buffer of its own). */
  encode(pcm: Int16Array): Uint8Array {
    if (pcm.length !== frameSamples) throw new RangeError(`an Opus frame here is ${frameSamples} samples, got ${pcm.length}`);
    return this.#enc.encode(pcm);
  }
}

/** One direction's decoder: an Opus packet in, 8 kHz PCM out (20 ms for a browser's usual packet). */
export class OpusDecoder {
  readonly #dec: InstanceType<EvanOpus['Decoder']>;

  constructor() {
    const l = load();
    if ('error' in l) throw new Error(`Opus is not available: ${l.error}`);
    this.#dec = new l.mod.Decoder({ channels: 1, sample_rate: opusPcmRate });
  }

  /** The packet's audio, any whole number of 2.5 ms frames; throws `OpusPacketError` for one that is not Opus. */
  decode(packet: Uint8Array): Int16Array {
    let bytes: Uint8Array;
    try {
      bytes = this.#dec.decode(packet);
    } catch (err) {
      throw new OpusPacketError((err as Error).message);
    }
    const samples = bytes.byteLength >> 1;
    if (samples > maxDecodedSamples) throw new OpusPacketError(`decoded ${samples} samples`);
    // A copy: the result must not share memory with the decoder's next call.
    return new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + samples * 2));
  }
}
