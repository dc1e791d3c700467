/** Test tones as 16-bit linear PCM: a sine for end-to-end checks, ringback later. */

/** `ms` of a sine at `hz`, sampled at `rate`, peak `amplitude` (0-1 of full scale). */
export function sine(hz: number, ms: number, opts: { rate?: number; amplitude?: number; phase?: number } = {}): Int16Array {
  const rate = opts.rate ?? 8000;
  const n = Math.round((rate * ms) / 1000);
  const peak = (opts.amplitude ?? 0.5) * 32767;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(peak * Math.sin((opts.phase ?? 0) + (2 * Math.PI * hz * i) / rate));
  return out;
}

/** Root mean square of samples, in the sample's own units. */
export function rms(pcm: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i]! * pcm[i]!;
  return pcm.length ? Math.sqrt(sum / pcm.length) : 0;
}
