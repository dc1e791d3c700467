/**
 * Opus codecs for the agent path of browser calls (issue 10): CPU per call-second of encoding and
 * decoding 20 ms frames, mono, with the PCM side at 48 kHz and at 8 kHz (the runtime's rate;
 * libopus then converts inside, RFC 7587 timestamps stay 48 kHz), for each npm package that is installed, beside G.711 (the
 * peer: what a phone call's agent path costs today) and our 48 kHz <-> 8 kHz resampling (which
 * every Opus leg pays on top of its codec). Each round encodes `seconds` of a speech-like signal
 * frame by frame, then decodes the packets; the figure is CPU time (user + system of this
 * process) over audio time, median of `rounds`.
 *
 * Packages not installed are listed as such. `from=DIR[,DIR]` also resolves packages from those
 * folders (scratch installs under /tmp), e.g.
 * `npm run bench -- opus-codec from=/tmp/opus-scratch/opusscript,/tmp/opus-scratch/evan`.
 *
 * `npm run bench -- opus-codec [seconds=10] [rounds=5] [from=DIR,...]`
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { g711Decode, g711Encode } from '../media/audio/g711.js';
import { Resampler } from '../media/audio/resample.js';
import { keyValues } from './lib/args.js';
import { fmt, median, table } from './lib/stats.js';

const rate = 48_000;
/** Voice bitrate set on every encoder (all in VOIP mode), so they do the same work. */
const bitrate = 32_000;

/** One candidate, reduced to what the leg needs: a frame in, a packet out, and back. */
interface Codec {
  encode(pcm: Int16Array): Uint8Array;
  decode(packet: Uint8Array): Int16Array;
  close(): void;
}

interface Candidate {
  name: string;
  /** A codec whose PCM side runs at `pcmRate` (libopus converts to and from 48 kHz inside). */
  open(load: (id: string) => unknown, pcmRate: number): Codec;
}

const asPcm = (bytes: Uint8Array) => new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
const asBytes = (pcm: Int16Array) => Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);

type EvanOpus = {
  Encoder: new (o: object) => { encode(b: ArrayBufferView): Uint8Array; bitrate: number | 'auto' };
  Decoder: new (o: object) => { decode(b: ArrayBufferView): Uint8Array };
};

function evan(mod: EvanOpus, pcmRate: number): Codec {
  const enc = new mod.Encoder({ channels: 1, sample_rate: pcmRate, application: 'voip' });
  enc.bitrate = bitrate;
  const dec = new mod.Decoder({ channels: 1, sample_rate: pcmRate });
  return { encode: (p) => enc.encode(p), decode: (b) => asPcm(dec.decode(b)), close: () => undefined };
}

const candidates: Candidate[] = [
  {
    name: 'opusscript (wasm)',
    open(load, pcmRate) {
      const O = load('opusscript') as {
        new (rate: number, channels: number, app: number): { encode(b: Buffer, n: number): Buffer; decode(b: Buffer): Buffer; encoderCTL(ctl: number, v: number): void; delete(): void };
        Application: { VOIP: number };
      };
      const enc = new O(pcmRate, 1, O.Application.VOIP);
      enc.encoderCTL(4002, bitrate); // OPUS_SET_BITRATE
      const dec = new O(pcmRate, 1, O.Application.VOIP);
      return {
        encode: (p) => enc.encode(asBytes(p), p.length),
        decode: (b) => asPcm(dec.decode(Buffer.from(b.buffer, b.byteOffset, b.byteLength))),
        close: () => { enc.delete(); dec.delete(); },
      };
    },
  },
  {
    name: '@evan/opus (native, shipped in the package)',
    open(load, pcmRate) {
      load('@evan/opus/node/index.js'); // throws where the package has no binary for this platform
      return evan(load('@evan/opus') as EvanOpus, pcmRate);
    },
  },
  {
    name: '@evan/opus (wasm)',
    open(load, pcmRate) {
      // lib.js picks its backend once, at load: load a second copy with the wasm one forced.
      const id = resolveIn(load, '@evan/opus');
      const saved = process.env.OPUS_FORCE_WASM;
      process.env.OPUS_FORCE_WASM = '1';
      const cache = createRequire(import.meta.url).cache;
      const native = cache[id];
      delete cache[id];
      try {
        return evan(load(id) as EvanOpus, pcmRate);
      } finally {
        if (saved === undefined) delete process.env.OPUS_FORCE_WASM;
        else process.env.OPUS_FORCE_WASM = saved;
        if (native) cache[id] = native;
      }
    },
  },
  {
    name: '@discordjs/opus (native, built from source)',
    open(load, pcmRate) {
      const { OpusEncoder } = load('@discordjs/opus') as {
        OpusEncoder: new (rate: number, channels: number) => { encode(b: Buffer): Buffer; decode(b: Buffer): Buffer; setBitrate(n: number): void; applyEncoderCTL(ctl: number, v: number): void };
      };
      const c = new OpusEncoder(pcmRate, 1);
      c.setBitrate(bitrate);
      c.applyEncoderCTL(4000, 2048); // OPUS_SET_APPLICATION(OPUS_APPLICATION_VOIP), as the others: it defaults to AUDIO
      return {
        encode: (p) => c.encode(asBytes(p)),
        decode: (b) => asPcm(c.decode(Buffer.from(b.buffer, b.byteOffset, b.byteLength))),
        close: () => undefined,
      };
    },
  },
];

const resolvers = new WeakMap<(id: string) => unknown, (id: string) => string>();
const resolveIn = (load: (id: string) => unknown, id: string) => resolvers.get(load)!(id);

/** A `require` that also looks in each of `dirs` (their node_modules). */
function loader(dirs: string[]): (id: string) => unknown {
  const requires = [createRequire(import.meta.url), ...dirs.map((d) => createRequire(path.join(path.resolve(d), 'noop.js')))];
  const resolve = (id: string): string => {
    if (path.isAbsolute(id)) return id;
    for (const r of requires) {
      try {
        return r.resolve(id);
      } catch {
        // not in this folder
      }
    }
    throw new Error(`${id} is not installed`);
  };
  const load = (id: string) => requires[0]!(resolve(id));
  resolvers.set(load, resolve);
  return load;
}

/** `seconds` of a voiced, syllable-paced signal: harmonics of 140 Hz under a 4 Hz envelope, plus a little noise. */
function speechLike(seconds: number): Int16Array {
  const n = seconds * rate;
  const out = new Int16Array(n);
  let seed = 7;
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    let v = 0;
    for (let h = 1; h <= 12; h++) v += Math.sin(2 * Math.PI * 140 * h * t) / h;
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const envelope = 0.5 + 0.5 * Math.sin(2 * Math.PI * 4 * t);
    out[i] = Math.round(6000 * envelope * v + ((seed / 0x7fffffff) - 0.5) * 600);
  }
  return out;
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Round {
  encodeMs: number;
  decodeMs: number;
  bytes: number;
}

/** Encodes then decodes `pcm` (at `pcmRate`) frame by frame; CPU ms of each half. */
function round(codec: Codec, pcm: Int16Array, pcmRate: number): Round {
  const frameSamples = pcmRate / 50;
  const packets: Uint8Array[] = [];
  let t = cpuMs();
  for (let i = 0; i + frameSamples <= pcm.length; i += frameSamples) packets.push(codec.encode(pcm.subarray(i, i + frameSamples)).slice());
  const encodeMs = cpuMs() - t;
  t = cpuMs();
  let samples = 0;
  for (const p of packets) samples += codec.decode(p).length;
  const decodeMs = cpuMs() - t;
  if (samples !== packets.length * frameSamples) throw new Error(`decoded ${samples} samples, expected ${packets.length * frameSamples}`);
  return { encodeMs, decodeMs, bytes: packets.reduce((s, p) => s + p.length, 0) };
}

/** Today's agent path for a phone: G.711 at 8 kHz, the same audio time. */
function g711Round(pcm8k: Int16Array): Round {
  let t = cpuMs();
  const packets: Buffer[] = [];
  for (let i = 0; i + 160 <= pcm8k.length; i += 160) packets.push(g711Encode('PCMU', pcm8k.subarray(i, i + 160)));
  const encodeMs = cpuMs() - t;
  t = cpuMs();
  for (const p of packets) g711Decode('PCMU', p);
  return { encodeMs, decodeMs: cpuMs() - t, bytes: packets.length * 160 };
}

/** What an Opus leg adds around its codec: 48 kHz -> 8 kHz in, 8 kHz -> 48 kHz out, 20 ms at a time. */
function resampleRound(pcm48k: Int16Array, pcm8k: Int16Array): Round {
  const down = new Resampler(rate, 8000);
  const up = new Resampler(8000, rate);
  let t = cpuMs();
  for (let i = 0; i + 160 <= pcm8k.length; i += 160) up.push(pcm8k.subarray(i, i + 160));
  const encodeMs = cpuMs() - t;
  t = cpuMs();
  for (let i = 0; i + 960 <= pcm48k.length; i += 960) down.push(pcm48k.subarray(i, i + 960));
  return { encodeMs, decodeMs: cpuMs() - t, bytes: 0 };
}

function figures(name: string, rounds: Round[], seconds: number, baseline: number | null): Record<string, string> {
  const enc = median(rounds.map((r) => r.encodeMs)) / seconds;
  const dec = median(rounds.map((r) => r.decodeMs)) / seconds;
  const both = median(rounds.map((r) => r.encodeMs + r.decodeMs)) / seconds;
  return {
    codec: name,
    'encode ms/call-s': fmt(enc, 3),
    'decode ms/call-s': fmt(dec, 3),
    'both ms/call-s': fmt(both, 3),
    'calls per core': fmt(1000 / both, 0),
    'x G.711': baseline ? fmt(both / baseline, 1) : '1.0',
    kbit_s: fmt((rounds[0]!.bytes * 8) / seconds / 1000, 1),
  };
}

export async function run(args: string[]): Promise<void> {
  const a = keyValues(args);
  const seconds = Number(a.seconds ?? 10);
  const rounds = Number(a.rounds ?? 5);
  const load = loader((a.from ?? '').split(',').filter(Boolean));
  const pcm48k = speechLike(seconds);
  const pcm8k = speechLike(seconds).filter((_, i) => i % 6 === 0);
  console.log(`opus-codec: ${seconds} s of 48 kHz mono speech-like audio per round, 20 ms frames, ${bitrate / 1000} kbit/s, median of ${rounds} rounds, node ${process.version}`);
  const g711 = Array.from({ length: rounds }, () => g711Round(pcm8k));
  const baseline = median(g711.map((r) => r.encodeMs + r.decodeMs)) / seconds;
  const rows = [figures('G.711 PCMU 8 kHz (peer: today)', g711, seconds, null)];
  rows.push(figures('resample 8k<->48k (ours, every Opus leg)', Array.from({ length: rounds }, () => resampleRound(pcm48k, pcm8k)), seconds, baseline));
  const missing: string[] = [];
  for (const c of candidates) {
    for (const [pcmRate, pcm] of [[rate, pcm48k], [8000, pcm8k]] as const) {
      let codec: Codec;
      try {
        codec = c.open(load, pcmRate);
      } catch (err) {
        if (pcmRate === rate) missing.push(`${c.name}: ${(err as Error).message.split('\n')[0]}`);
        break;
      }
      round(codec, pcm, pcmRate); // warm-up: JIT, wasm tier-up, allocator
      const name = `${c.name}, PCM at ${pcmRate / 1000} kHz`;
      rows.push(figures(name, Array.from({ length: rounds }, () => round(codec, pcm, pcmRate)), seconds, baseline));
      codec.close();
    }
  }
  table(rows);
  for (const m of missing) console.log(`not measured: ${m}`);
}
