/**
 * A TTS provider that remembers: finished syntheses are kept, keyed by provider, voice,
 * language and text, in an LRU bounded by total bytes of audio. Greetings, menus and fallback
 * lines are spoken again and again; a hit costs nothing and starts at once.
 *
 * Only complete results are stored: a synthesis that failed or was abandoned is not. Identical
 * requests made while one is running share it (a "flight"): each follows the chunks as they
 * come. The flight runs on while anyone follows it, and is cancelled when the last one leaves.
 */
import type { TtsProvider, TtsRequest } from '../contracts.js';

/** 32 MB: about 35 minutes of 8 kHz speech, thousands of prompts. */
const defaultMaxBytes = 32 * 1024 * 1024;

export interface CacheStats {
  hits: number;
  misses: number;
  /** Requests that joined a synthesis already running. */
  shared: number;
  entries: number;
  bytes: number;
}

interface Entry {
  chunks: Int16Array[];
  bytes: number;
}

/** The life of one shared synthesis. */
type FlightState = 'running' | 'done' | 'failed' | 'cancelled';

class Flight {
  readonly chunks: Int16Array[] = [];
  bytes = 0;
  state: FlightState = 'running';
  error: unknown = null;
  followers = 0;
  readonly stop = new AbortController();
  #wake: (() => void)[] = [];

  /** Settles at the next chunk or at the end. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.#wake.push(resolve));
  }

  push(chunk: Int16Array): void {
    this.chunks.push(chunk);
    this.bytes += chunk.byteLength;
    this.#notify();
  }

  end(state: Exclude<FlightState, 'running'>, error: unknown = null): void {
    this.state = state;
    this.error = error;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) w();
  }
}

export class CachedTts implements TtsProvider {
  readonly name: string;
  readonly #inner: TtsProvider;
  readonly #maxBytes: number;
  /** Insertion order is recency: the first entry is the least recently used. */
  readonly #entries = new Map<string, Entry>();
  readonly #flights = new Map<string, Flight>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  #shared = 0;

  constructor(inner: TtsProvider, opts: { maxBytes?: number } = {}) {
    this.#inner = inner;
    this.name = inner.name;
    this.#maxBytes = opts.maxBytes ?? defaultMaxBytes;
  }

  get stats(): CacheStats {
    return { hits: this.#hits, misses: this.#misses, shared: this.#shared, entries: this.#entries.size, bytes: this.#bytes };
  }

  async *synthesize(req: TtsRequest): AsyncIterable<Int16Array> {
    if (req.signal.aborted) return;
    const key = JSON.stringify([this.#inner.name, req.voiceId, req.language ?? '', req.text]);
    const entry = this.#entries.get(key);
    if (entry) {
      this.#hits++;
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      for (const c of entry.chunks) {
        if (req.signal.aborted) return;
        yield c.slice();
      }
      return;
    }
    let flight = this.#flights.get(key);
    if (flight) this.#shared++;
    else {
      this.#misses++;
      flight = this.#start(key, req);
    }
    yield* this.#follow(flight, key, req.signal);
  }

  #start(key: string, req: TtsRequest): Flight {
    const flight = new Flight();
    this.#flights.set(key, flight);
    void (async () => {
      try {
        for await (const c of this.#inner.synthesize({ ...req, signal: flight.stop.signal })) flight.push(c);
        flight.end(flight.stop.signal.aborted ? 'cancelled' : 'done');
      } catch (err) {
        flight.end(flight.stop.signal.aborted ? 'cancelled' : 'failed', err);
      }
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
      if (flight.state === 'done' && flight.bytes > 0) this.#store(key, { chunks: flight.chunks, bytes: flight.bytes });
    })();
    return flight;
  }

  async *#follow(flight: Flight, key: string, signal: AbortSignal): AsyncGenerator<Int16Array> {
    flight.followers++;
    let onAbort: () => void = () => undefined;
    const aborted = new Promise<void>((resolve) => (onAbort = resolve));
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (let i = 0; ; ) {
        while (i < flight.chunks.length) {
          yield flight.chunks[i++]!.slice();
          if (signal.aborted) return;
        }
        if (flight.state === 'failed') throw flight.error;
        if (flight.state !== 'running') return;
        await Promise.race([flight.changed(), aborted]);
        if (signal.aborted) return;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (--flight.followers === 0 && flight.state === 'running') {
        // Nobody is listening: stop the synthesis, and let the next request start afresh.
        if (this.#flights.get(key) === flight) this.#flights.delete(key);
        flight.stop.abort();
      }
    }
  }

  #store(key: string, entry: Entry): void {
    if (entry.bytes > this.#maxBytes) return;
    const old = this.#entries.get(key);
    if (old) this.#bytes -= old.bytes;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    this.#bytes += entry.bytes;
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#entries.delete(k);
      this.#bytes -= e.bytes;
    }
  }
}
