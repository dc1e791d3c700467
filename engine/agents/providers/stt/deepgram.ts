/**
 * Deepgram live streaming recognition over a WebSocket (`/v1/listen`): the caller's 8 kHz PCM
 * goes up as binary linear16 in ~100 ms messages, `Results` and `UtteranceEnd` come back.
 *
 * What the runtime receives (the text of every transcript is **the caller's turn so far**, so
 * the runtime never joins pieces itself; the last transcript of a turn holds the whole turn):
 *
 * - `Results` with `is_final: false` -> `{ text: finals of the turn + this interim, final: false }`.
 * - `Results` with `is_final: true` -> `{ text: finals of the turn including this one, final: true,
 *   endOfTurn: speech_final }`. A final that adds no words is not emitted unless it ends a turn
 *   that has words.
 * - `UtteranceEnd` while the turn has finals that no `speech_final` closed (Deepgram's
 *   endpointing missed the end, e.g. in background noise) -> `{ text: the turn, final: true,
 *   endOfTurn: true }`. After a `speech_final` it is a no-op.
 * - After an end of turn the next words begin a new turn. `SpeechStarted`, `Metadata` and any
 *   other type are ignored.
 *
 * Failures reach `onError` once, as a `ProviderError`, and the stream is finished after it:
 * 401/403 at the upgrade 'auth', 429 'rate_limited', other statuses 'http_error', no open socket
 * within `connectTimeoutMs` 'timeout', a socket error or a close we did not ask for 'network',
 * a message that is not Deepgram's JSON 'bad_response'. `push` never throws; audio pushed before
 * the socket opens waits (the latest 5 s of it). When no audio flows for `keepAliveMs` a
 * `KeepAlive` keeps the socket (Deepgram closes it after 10 s without data); `close()` or the
 * signal flushes the audio, sends `CloseStream` and closes the socket.
 */
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { z } from 'zod';
import { defaultEndSilenceMs } from '../../../../media/audio/vad.js';
import { outbound } from '../../../../lib/outbound-guard.js';
import { SttListeners } from './listeners.js';
import { httpErrorCode, ProviderError, type ProviderCredential, type SttOptions, type SttProvider, type SttStream, type SttTranscript } from '../contracts.js';

export interface DeepgramSettings {
  /** No open socket by then: 'timeout'. */
  connectTimeoutMs?: number;
  /** Silence on the socket before a `KeepAlive` (Deepgram closes after 10 s without data). */
  keepAliveMs?: number;
  /** After `CloseStream`, how long the service may take to close before the socket is cut. */
  closeTimeoutMs?: number;
  /** Where a throwing transcript or error listener is reported. */
  logger?: Pick<Logger, 'warn'>;
}

type Settings = Required<Omit<DeepgramSettings, 'logger'>> & Pick<DeepgramSettings, 'logger'>;

const defaults: Settings = { connectTimeoutMs: 5000, keepAliveMs: 4000, closeTimeoutMs: 2000 };

/** 100 ms of 8 kHz 16-bit audio: Deepgram's advice is 20-250 ms per message. */
const batchBytes = 1600;
/** Audio kept while the socket opens: 5 s; older audio is dropped first. */
const maxPendingBytes = 5 * 16000;
/** Unsent bytes in the socket before the service counts as stalled: 10 s of audio. */
const maxBufferedBytes = 10 * 16000;
/** Deepgram's messages are a few kB; anything near this is not Deepgram. */
const maxMessageBytes = 1 << 20;
/** Deepgram's minimum for `utterance_end_ms`. */
const utteranceEndMs = 1000;
const maxHints = 100;

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const resultsMessage = z.object({
  type: z.literal('Results'),
  is_final: z.boolean().optional(),
  speech_final: z.boolean().optional(),
  channel: z.object({ alternatives: z.array(z.object({ transcript: z.string() })) }),
});
const anyMessage = z.object({ type: z.string() });

/** Deepgram's streaming recognition as an `SttProvider`. */
export class DeepgramStt implements SttProvider {
  readonly name = 'deepgram';
  readonly #settings: Settings;

  constructor(
    private readonly credential: ProviderCredential,
    settings: DeepgramSettings = {},
  ) {
    this.#settings = { ...defaults, ...settings };
  }

  open(opts: SttOptions): DeepgramStream {
    return new DeepgramStream(listenUrl(this.credential.baseUrl, opts), this.credential.apiKey, opts.signal, this.#settings);
  }
}

/** The `/v1/listen` URL for these options. */
export function listenUrl(baseUrl: string | null, opts: Omit<SttOptions, 'signal'>): string {
  const base = (baseUrl ?? 'wss://api.deepgram.com').replace(/^http/, 'ws').replace(/\/+$/, '');
  const q = new URLSearchParams({
    encoding: 'linear16',
    sample_rate: '8000',
    channels: '1',
    interim_results: 'true',
    endpointing: String(Math.round(opts.endSilenceMs ?? defaultEndSilenceMs)),
    utterance_end_ms: String(utteranceEndMs),
    vad_events: 'true',
    smart_format: 'true',
    model: opts.model ?? 'nova-2',
  });
  if (opts.language) q.set('language', opts.language);
  for (const hint of (opts.hints ?? []).slice(0, maxHints)) if (hint.trim()) q.append('keywords', hint.trim());
  return `${base}/v1/listen?${q}`;
}

type State = 'connecting' | 'open' | 'closing' | 'closed' | 'failed';

/** Legal moves; `closed` and `failed` are final. */
const moves: Record<State, readonly State[]> = {
  connecting: ['open', 'closed', 'failed'],
  open: ['closing', 'failed'],
  closing: ['closed', 'failed'],
  closed: [],
  failed: [],
};

/** One recognition on one socket. */
export class DeepgramStream implements SttStream {
  #state: State = 'connecting';
  readonly #ws: WebSocket | null;
  readonly #listeners: SttListeners;
  readonly #batch = Buffer.alloc(batchBytes);
  #batchLength = 0;
  /** Batches waiting for the socket to open. */
  readonly #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Finals of the current turn. */
  readonly #finals: string[] = [];
  #lastSentAt = performance.now();
  #connectTimer: NodeJS.Timeout | null = null;
  #keepAliveTimer: NodeJS.Timeout | null = null;
  #closeTimer: NodeJS.Timeout | null = null;
  readonly #onAbort = () => this.close();
  /** What went where, for tests and logs. */
  readonly stats = { sentBytes: 0, droppedBytes: 0, messages: 0 };

  constructor(
    url: string,
    apiKey: string | null,
    private readonly signal: AbortSignal,
    private readonly settings: Settings,
  ) {
    this.#listeners = new SttListeners('deepgram', settings.logger);
    let ws: WebSocket | null = null;
    try {
      outbound().check(url);
      ws = new WebSocket(url, { headers: apiKey ? { Authorization: `Token ${apiKey}` } : {}, maxPayload: maxMessageBytes, followRedirects: false, lookup: outbound().lookup });
    } catch (err) {
      queueMicrotask(() => this.#fail('network', `bad URL: ${(err as Error).message}`));
    }
    this.#ws = ws;
    if (!ws) return;
    // Listeners stay for the socket's life: ws emits 'error' even while we tear it down.
    ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      this.#fail(httpErrorCode(status), `upgrade refused with ${status}`, status);
    });
    ws.on('open', () => this.#opened());
    ws.on('message', (data, isBinary) => this.#message(data, isBinary));
    ws.on('error', (err) => this.#fail('network', err.message));
    ws.on('close', (code, reason) => this.#closed(code, reason.toString()));
    this.#connectTimer = setTimeout(() => this.#fail('timeout', `no connection within ${settings.connectTimeoutMs} ms`), settings.connectTimeoutMs);
    if (signal.aborted) queueMicrotask(this.#onAbort);
    else signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  get state(): State {
    return this.#state;
  }

  onTranscript(fn: (t: SttTranscript) => void): void {
    this.#listeners.onTranscript(fn);
  }

  onError(fn: (err: ProviderError) => void): void {
    this.#listeners.onError(fn);
  }

  push(pcm: Int16Array): void {
    if ((this.#state !== 'connecting' && this.#state !== 'open') || !(pcm instanceof Int16Array)) return;
    let bytes = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
    if (!littleEndian) bytes = Buffer.from(bytes).swap16();
    for (let at = 0; at < bytes.length; ) {
      const n = bytes.copy(this.#batch, this.#batchLength, at);
      this.#batchLength += n;
      at += n;
      if (this.#batchLength === batchBytes) this.#flushBatch();
    }
  }

  close(): void {
    if (this.#state === 'connecting') {
      this.#transition('closed');
      return;
    }
    if (this.#state !== 'open') return;
    this.#flushBatch();
    this.#sendJson({ type: 'CloseStream' });
    this.#transition('closing');
  }

  #transition(to: State): void {
    if (!moves[this.#state].includes(to)) return;
    this.#state = to;
    if (to === 'closing') {
      this.#closeTimer = setTimeout(() => this.#ws?.terminate(), this.settings.closeTimeoutMs);
      this.#ws?.close(1000);
    }
    if (to === 'closed' || to === 'failed') this.#dispose();
  }

  #dispose(): void {
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    if (this.#keepAliveTimer) clearInterval(this.#keepAliveTimer);
    if (this.#closeTimer) clearTimeout(this.#closeTimer);
    this.#connectTimer = this.#keepAliveTimer = this.#closeTimer = null;
    this.signal.removeEventListener('abort', this.#onAbort);
    this.#pending.length = 0;
    this.#pendingBytes = 0;
    this.#batchLength = 0;
    this.#ws?.terminate();
  }

  #fail(code: ProviderError['code'], message: string, status?: number): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    if (this.#state === 'closing') {
      // Whatever goes wrong after `close()` is no news for the runtime.
      this.#transition('closed');
      return;
    }
    this.#transition('failed');
    this.#listeners.error(new ProviderError('deepgram', code, message, status));
  }


  #opened(): void {
    if (this.#state !== 'connecting') return;
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
    this.#transition('open');
    for (const b of this.#pending.splice(0)) this.#send(b);
    this.#pendingBytes = 0;
    this.#lastSentAt = performance.now();
    this.#keepAliveTimer = setInterval(() => {
      if (performance.now() - this.#lastSentAt >= this.settings.keepAliveMs) this.#sendJson({ type: 'KeepAlive' });
    }, Math.max(50, this.settings.keepAliveMs / 4));
  }

  #closed(code: number, reason: string): void {
    if (this.#state === 'closing') this.#transition('closed');
    else this.#fail('network', `connection closed by the service (${code}${reason ? ` ${reason}` : ''})`);
  }

  #flushBatch(): void {
    if (this.#batchLength === 0) return;
    const chunk = Buffer.from(this.#batch.subarray(0, this.#batchLength));
    this.#batchLength = 0;
    if (this.#state === 'open') {
      this.#send(chunk);
      return;
    }
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    while (this.#pendingBytes > maxPendingBytes) {
      const dropped = this.#pending.shift()!;
      this.#pendingBytes -= dropped.length;
      this.stats.droppedBytes += dropped.length;
    }
  }

  #send(data: Buffer | string): void {
    const ws = this.#ws;
    if (!ws || this.#state !== 'open') return;
    if (ws.bufferedAmount > maxBufferedBytes) {
      this.#fail('network', `the service stopped reading (${ws.bufferedAmount} bytes unsent)`);
      return;
    }
    try {
      ws.send(data);
    } catch (err) {
      this.#fail('network', (err as Error).message);
      return;
    }
    this.#lastSentAt = performance.now();
    if (typeof data !== 'string') this.stats.sentBytes += data.length;
  }

  #sendJson(msg: { type: 'KeepAlive' | 'CloseStream' }): void {
    this.#send(JSON.stringify(msg));
  }

  #message(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.#state !== 'open') return;
    this.stats.messages++;
    let json: unknown;
    try {
      if (isBinary) throw new Error('binary message');
      // binaryType 'nodebuffer' (the default): every message is one Buffer.
      json = JSON.parse((data as Buffer).toString('utf8'));
    } catch (err) {
      this.#fail('bad_response', `not JSON: ${(err as Error).message}`);
      return;
    }
    const typed = anyMessage.safeParse(json);
    if (!typed.success) {
      this.#fail('bad_response', 'a message without a type');
      return;
    }
    if (typed.data.type === 'Results') {
      const results = resultsMessage.safeParse(json);
      if (!results.success) this.#fail('bad_response', `malformed Results: ${results.error.issues[0]?.message ?? ''}`);
      else this.#results(results.data);
    } else if (typed.data.type === 'UtteranceEnd') {
      if (this.#finals.length) this.#endTurn();
    }
  }

  #results(msg: z.infer<typeof resultsMessage>): void {
    const words = (msg.channel.alternatives[0]?.transcript ?? '').trim();
    if (!msg.is_final) {
      if (words) this.#listeners.transcript({ text: this.#turnWith(words), final: false, endOfTurn: false });
      return;
    }
    if (words) this.#finals.push(words);
    if (msg.speech_final) {
      if (this.#finals.length) this.#endTurn();
    } else if (words) {
      this.#listeners.transcript({ text: this.#turnWith(''), final: true, endOfTurn: false });
    }
  }

  #turnWith(words: string): string {
    return [...this.#finals, words].filter(Boolean).join(' ');
  }

  #endTurn(): void {
    const text = this.#turnWith('');
    this.#finals.length = 0;
    this.#listeners.transcript({ text, final: true, endOfTurn: true });
  }

}
