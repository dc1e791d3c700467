/** Audio checks for tests: how much of one frequency a stretch of PCM holds, channels of a WAV. */

/**
 * The amplitude of the `hz` component of `pcm` (Goertzel), in sample units: a full sine of peak
 * A at `hz` reads about A, other frequencies and silence read near 0.
 */
export function toneLevel(pcm: Int16Array, hz: number, rate = 8000): number {
  const k = (2 * Math.PI * hz) / rate;
  const coeff = 2 * Math.cos(k);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < pcm.length; i++) {
    const s0 = pcm[i]! + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return pcm.length ? (2 * Math.sqrt(Math.max(0, power))) / pcm.length : 0;
}

/** One channel of interleaved samples. */
export function channel(samples: Int16Array, channels: number, index: number): Int16Array {
  const out = new Int16Array(Math.floor(samples.length / channels));
  for (let i = 0; i < out.length; i++) out[i] = samples[i * channels + index]!;
  return out;
}

/** `pcm` cut into 20 ms frames (160 samples at 8 kHz); a trailing partial frame is left out. */
export function frames(pcm: Int16Array, size = 160): Int16Array[] {
  const out: Int16Array[] = [];
  for (let i = 0; i + size <= pcm.length; i += size) out.push(pcm.subarray(i, i + size));
  return out;
}
