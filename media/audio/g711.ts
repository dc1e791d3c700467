/**
 * ITU-T G.711 μ-law (PCMU) and A-law (PCMA) for 16-bit linear PCM, after the reference
 * algorithm in Sun's public-domain g711.c. Both directions go through tables built once at load
 * (256 entries to decode, 65 536 to encode), so a 20 ms frame costs 160 array reads.
 */
import type { G711Name } from '../sdp/types.js';

/** μ-law bias (G.711 §3.2: 33 in 14-bit units, 0x84 in 16-bit). */
const uBias = 0x84;
/** Largest 14-bit magnitude before the bias pushes it past the top segment. */
const uClip = 8159;
const uSegEnd = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
const aSegEnd = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];

const segment = (v: number, ends: number[]) => {
  let i = 0;
  while (i < ends.length && v > ends[i]!) i++;
  return i;
};

function linearToUlaw(pcm: number): number {
  let v = pcm >> 2;
  let mask = 0xff;
  if (v < 0) {
    v = -v;
    mask = 0x7f;
  }
  if (v > uClip) v = uClip;
  v += uBias >> 2;
  const seg = segment(v, uSegEnd);
  if (seg >= 8) return 0x7f ^ mask;
  return ((seg << 4) | ((v >> (seg + 1)) & 0x0f)) ^ mask;
}

function ulawToLinear(code: number): number {
  const u = ~code & 0xff;
  let t = ((u & 0x0f) << 3) + uBias;
  t <<= (u & 0x70) >> 4;
  return u & 0x80 ? uBias - t : t - uBias;
}

function linearToAlaw(pcm: number): number {
  let v = pcm >> 3;
  let mask = 0xd5;
  if (v < 0) {
    mask = 0x55;
    v = -v - 1;
  }
  const seg = segment(v, aSegEnd);
  if (seg >= 8) return 0x7f ^ mask;
  const a = (seg << 4) | (seg < 2 ? (v >> 1) & 0x0f : (v >> seg) & 0x0f);
  return a ^ mask;
}

function alawToLinear(code: number): number {
  const a = code ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

function tables(toLinear: (c: number) => number, fromLinear: (s: number) => number) {
  const decode = new Int16Array(256);
  for (let c = 0; c < 256; c++) decode[c] = toLinear(c);
  const encode = new Uint8Array(65536);
  // Indexed by the sample's 16 bits read as unsigned: s & 0xffff.
  for (let s = -32768; s < 32768; s++) encode[s & 0xffff] = fromLinear(s);
  return { decode, encode };
}

const laws = { PCMU: tables(ulawToLinear, linearToUlaw), PCMA: tables(alawToLinear, linearToAlaw) };

/** Encodes 16-bit linear samples to G.711 bytes (one per sample). */
export function g711Encode(law: G711Name, pcm: Int16Array, out: Buffer = Buffer.allocUnsafe(pcm.length)): Buffer {
  const table = laws[law].encode;
  for (let i = 0; i < pcm.length; i++) out[i] = table[pcm[i]! & 0xffff]!;
  return out;
}

/** Decodes G.711 bytes to 16-bit linear samples. */
export function g711Decode(
  law: G711Name,
  bytes: Uint8Array,
  out: Int16Array = new Int16Array(bytes.length),
): Int16Array {
  const table = laws[law].decode;
  for (let i = 0; i < bytes.length; i++) out[i] = table[bytes[i]!]!;
  return out;
}

/** The byte a law uses for digital silence (μ-law 0xFF, A-law 0xD5). */
export const g711Silence: Record<G711Name, number> = { PCMU: 0xff, PCMA: 0xd5 };
