/**
 * PCM16 sample-rate conversion by a rational factor L/M with a polyphase windowed-sinc
 * (Kaiser) low-pass: what brings 16, 22.05, 24 and 44.1 kHz speech down to the runtime's
 * 8 kHz, and 8 kHz up to 16 kHz. The filter is designed once per rate pair and shared.
 *
 * Output sample n sits at time n·M/L input samples (the filter's delay is taken off, so a
 * sound stays where it was); each output is one dot product of one phase of the prototype
 * filter with the input history, so the cost is `taps per phase` multiply-adds per output.
 *
 * `Resampler` streams: it keeps the input history (and half a sample, for byte input split at
 * an odd offset) between chunks, so any split of the input gives the same samples as one call.
 */

/** Stopband attenuation of the design, dB: far below G.711's own noise floor (~38 dB SNR). */
const stopbandDb = 70;
/**
 * Passband edge as a fraction of the lower Nyquist rate: 0.85 × 4 kHz = 3.4 kHz, the top of
 * the telephone band; the stopband starts at the Nyquist rate itself.
 */
const passFraction = 0.85;

interface Design {
  /** Upsampling factor L and decimation factor M, coprime. */
  up: number;
  down: number;
  /** Taps per phase. */
  taps: number;
  /** `phases[p][k]` = h[p + k·L]: phase p's taps, newest input first. */
  phases: Float64Array[];
  /** Delay of the prototype filter, in upsampled samples. */
  delay: number;
}

const designs = new Map<string, Design>();

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** Zeroth-order modified Bessel function of the first kind, by its power series. */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

function design(fromRate: number, toRate: number): Design {
  const key = `${fromRate}:${toRate}`;
  const cached = designs.get(key);
  if (cached) return cached;
  const g = gcd(fromRate, toRate);
  const up = toRate / g;
  const down = fromRate / g;
  const upRate = fromRate * up;
  const nyquist = Math.min(fromRate, toRate) / 2;
  const pass = passFraction * nyquist;
  const cutoff = (pass + nyquist) / 2 / upRate; // cycles per upsampled sample
  const width = (nyquist - pass) / upRate;
  // Kaiser's formulas for a window meeting `stopbandDb` over a transition of `width`.
  const beta = 0.1102 * (stopbandDb - 8.7);
  const taps = Math.max(2, Math.ceil((stopbandDb - 7.95) / (14.36 * width) / up));
  const n = taps * up;
  // An odd length puts the centre on a sample, so the delay is a whole number of samples and
  // no fraction of a sample shifts the phase; an even n leaves its last tap at zero.
  const len = n % 2 ? n : n - 1;
  const mid = (len - 1) / 2;
  const proto = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < len; i++) {
    const x = i - mid;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const r = (2 * i) / (len - 1) - 1;
    proto[i] = sinc * (besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / besselI0(beta));
    sum += proto[i]!;
  }
  // Zero-stuffing by L divides the level by L: a DC gain of L puts it back.
  for (let i = 0; i < n; i++) proto[i]! *= up / sum;
  const phases = Array.from({ length: up }, (_, p) => {
    const taps_ = new Float64Array(taps);
    for (let k = 0; k < taps; k++) taps_[k] = proto[p + k * up]!;
    return taps_;
  });
  const d: Design = { up, down, taps, phases, delay: mid };
  designs.set(key, d);
  return d;
}

const clip = (v: number) => (v >= 32767 ? 32767 : v <= -32768 ? -32768 : Math.round(v));

/** A streaming converter from `fromRate` to `toRate`, 16-bit mono. */
export class Resampler {
  readonly fromRate: number;
  readonly toRate: number;
  readonly #d: Design;
  /** Input history and pending input; `#buf[0]` is input sample number `#bufStart`. */
  #buf: Float64Array;
  #bufStart: number;
  #bufLen = 0;
  /** Input samples received so far. */
  #inCount = 0;
  /** The next output sample's number. */
  #next = 0;
  /** The low byte of a sample whose high byte has not arrived yet (byte input). */
  #halfSample: number | null = null;

  constructor(fromRate: number, toRate: number) {
    if (!Number.isInteger(fromRate) || !Number.isInteger(toRate) || fromRate <= 0 || toRate <= 0) {
      throw new RangeError(`bad sample rates ${fromRate} -> ${toRate}`);
    }
    this.fromRate = fromRate;
    this.toRate = toRate;
    this.#d = design(fromRate, toRate);
    this.#buf = new Float64Array(this.#d.taps * 2 + 1024);
    // Before the first input, the history is silence: samples -(taps-1)..-1 are zeros.
    this.#bufStart = -(this.#d.taps - 1);
    this.#bufLen = this.#d.taps - 1;
  }

  /** Converts the next stretch of input; returns the output samples it completes. */
  push(pcm: Int16Array): Int16Array {
    if (this.fromRate === this.toRate) return pcm.slice();
    this.#append(pcm);
    return this.#produce(this.#inCount);
  }

  /**
   * The same for little-endian bytes as they come off a socket: an odd byte is kept until its
   * partner arrives.
   */
  pushBytes(bytes: Uint8Array): Int16Array {
    let start = 0;
    const whole: number[] = [];
    if (this.#halfSample !== null && bytes.length > 0) {
      whole.push(((bytes[0]! << 8) | this.#halfSample) << 16 >> 16);
      this.#halfSample = null;
      start = 1;
    }
    const count = (bytes.length - start) >> 1;
    const pcm = new Int16Array(whole.length + count);
    if (whole.length) pcm[0] = whole[0]!;
    for (let i = 0; i < count; i++) {
      const at = start + 2 * i;
      pcm[whole.length + i] = ((bytes[at + 1]! << 8) | bytes[at]!) << 16 >> 16;
    }
    if ((bytes.length - start) % 2 === 1) this.#halfSample = bytes[bytes.length - 1]!;
    return this.push(pcm);
  }

  /**
   * Ends the input: the samples still inside the filter come out (the input is followed by
   * silence), for ceil(inputs · to/from) outputs in all. A dangling half sample is dropped.
   */
  flush(): Int16Array {
    this.#halfSample = null;
    if (this.fromRate === this.toRate) return new Int16Array(0);
    const { up, down } = this.#d;
    const total = Math.ceil((this.#inCount * up) / down);
    const outs: Int16Array[] = [];
    let produced = 0;
    while (this.#next < total) {
      // Feed silence until the remaining outputs are computable.
      const need = Math.floor(((total - 1) * down + this.#d.delay) / up) + 1;
      const pad = Math.max(0, need - (this.#bufStart + this.#bufLen));
      this.#append(new Int16Array(Math.min(pad, 65536)), false);
      const o = this.#produceUpTo(this.#bufStart + this.#bufLen, total);
      outs.push(o);
      produced += o.length;
    }
    const out = new Int16Array(produced);
    let at = 0;
    for (const o of outs) {
      out.set(o, at);
      at += o.length;
    }
    return out;
  }

  /** Adds input; `counted` is false for the silence `flush` feeds in. */
  #append(pcm: Int16Array, counted = true): void {
    if (counted) this.#inCount += pcm.length;
    if (this.#bufLen + pcm.length > this.#buf.length) {
      const grown = new Float64Array(Math.max(this.#buf.length * 2, this.#bufLen + pcm.length));
      grown.set(this.#buf.subarray(0, this.#bufLen));
      this.#buf = grown;
    }
    for (let i = 0; i < pcm.length; i++) this.#buf[this.#bufLen + i] = pcm[i]!;
    this.#bufLen += pcm.length;
  }

  #produce(available: number): Int16Array {
    return this.#produceUpTo(available, Number.POSITIVE_INFINITY);
  }

  /** Every output whose newest input is below `available` (absolute), up to `limit` outputs. */
  #produceUpTo(available: number, limit: number): Int16Array {
    const { up, down, taps, phases, delay } = this.#d;
    // Output n needs input floor((n·M + delay)/L): count how many are ready.
    // The largest n with floor((n·M + delay)/L) <= available - 1.
    const last = Math.floor((available * up - 1 - delay) / down);
    const end = Math.min(limit, Math.max(this.#next, last + 1));
    const out = new Int16Array(end - this.#next);
    const buf = this.#buf;
    for (let i = 0; i < out.length; i++) {
      const u = (this.#next + i) * down + delay;
      const base = Math.floor(u / up);
      const h = phases[u - base * up]!;
      let at = base - this.#bufStart;
      let acc = 0;
      for (let k = 0; k < taps; k++, at--) acc += h[k]! * buf[at]!;
      out[i] = clip(acc);
    }
    this.#next = end;
    this.#trim();
    return out;
  }

  /** Drops input no future output can reach. */
  #trim(): void {
    const { up, down, taps, delay } = this.#d;
    const oldestNeeded = Math.floor((this.#next * down + delay) / up) - (taps - 1);
    const drop = Math.min(this.#bufLen, oldestNeeded - this.#bufStart);
    if (drop <= 0 || drop < this.#buf.length / 4) return;
    this.#buf.copyWithin(0, drop, this.#bufLen);
    this.#bufStart += drop;
    this.#bufLen -= drop;
  }
}

/** Converts a whole signal from `fromRate` to `toRate` (the same samples streaming would give). */
export function resample(pcm: Int16Array, fromRate: number, toRate: number): Int16Array {
  const r = new Resampler(fromRate, toRate);
  const head = r.push(pcm);
  const tail = r.flush();
  const out = new Int16Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}
