/**
 * Speech to text through an OpenAI-compatible transcription endpoint (`POST
 * {baseUrl}/audio/transcriptions`, which whisper.cpp's and faster-whisper's servers also speak).
 * Such an endpoint takes whole files, so the caller's audio is cut into utterances here by a
 * `VoiceActivity`:
 *
 * - an utterance begins `preRollMs` (200) before the voiced run that started speech, so the
 *   first syllable is whole;
 * - it ends at `speech_end`, keeping `postRollMs` (200) of the silence that ended it, or after
 *   `maxUtteranceMs` (30 s) of unbroken speech (the speech then goes on in a new utterance);
 * - each utterance is uploaded at once as a 16-bit mono 8 kHz WAV (multipart: `file`, `model`,
 *   `language`, `prompt` from the hints, `response_format=json`) and its answer's `text` becomes
 *   `{ text, final: true, endOfTurn: true }`. Empty text emits nothing. Uploads run side by
 *   side, transcripts come out in the order the utterances were spoken.
 *
 * Failures reach `onError` once as a `ProviderError` and end the stream: 401/403 'auth', 429
 * 'rate_limited', other statuses 'http_error', no answer within `timeoutMs` 'timeout', no
 * connection 'network', an answer without `text` 'bad_response'. `push` never throws. `close()`
 * or the signal drops the utterance in progress and aborts the uploads under way.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import { defaultEndSilenceMs, VoiceActivity, vadFrameSamples, vadSampleRate } from '../../../../media/audio/vad.js';
import { writeWav } from '../../../../media/audio/wav.js';
import { readCapped } from '../../../../lib/read-capped.js';
import { SttListeners } from './listeners.js';
import { outbound } from '../../../../lib/outbound-guard.js';
import { httpErrorCode, ProviderError, type ProviderCredential, type SttOptions, type SttProvider, type SttStream, type SttTranscript } from '../contracts.js';

export interface OpenAiSttSettings {
  /** One upload's limit, from sending to the whole answer. */
  timeoutMs?: number;
  /** Audio kept before the voiced run that started speech. */
  preRollMs?: number;
  /** Silence kept after the speech (the rest of `endSilenceMs` is cut). */
  postRollMs?: number;
  /** Unbroken speech longer than this is uploaded in pieces of this length. */
  maxUtteranceMs?: number;
  /** Where a throwing listener is reported. */
  logger?: Pick<Logger, 'warn'>;
}

type Settings = Required<Omit<OpenAiSttSettings, 'logger'>> & Pick<OpenAiSttSettings, 'logger'>;

/** Whisper-class models take 1-3 s for a sentence; 15 s is a service in trouble. */
const defaults: Settings = { timeoutMs: 15_000, preRollMs: 200, postRollMs: 200, maxUtteranceMs: 30_000 };

const frameMs = (vadFrameSamples * 1000) / vadSampleRate;
/** Audio held while the VAD loads (it takes milliseconds; this is a bound, not a wait). */
const maxEarlyFrames = 5000 / frameMs;
/** An answer is a line of JSON; a larger one is not a transcription. */
const maxAnswerBytes = 1 << 20;

const transcription = z.object({ text: z.string() });
const errorBody = z.object({ error: z.object({ message: z.string() }) });

export class OpenAiStt implements SttProvider {
  readonly name = 'openai';
  readonly #settings: Settings;

  constructor(
    private readonly credential: ProviderCredential,
    settings: OpenAiSttSettings = {},
  ) {
    this.#settings = { ...defaults, ...settings };
  }

  open(opts: SttOptions): OpenAiSttStream {
    const base = (this.credential.baseUrl ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
    return new OpenAiSttStream(`${base}/audio/transcriptions`, this.credential.apiKey, opts, this.#settings);
  }
}

type State = 'starting' | 'listening' | 'closed' | 'failed';

const moves: Record<State, readonly State[]> = {
  starting: ['listening', 'closed', 'failed'],
  listening: ['closed', 'failed'],
  closed: [],
  failed: [],
};

/** One listening session: utterances found by the VAD, each transcribed by one upload. */
export class OpenAiSttStream implements SttStream {
  #state: State = 'starting';
  #vad: VoiceActivity | null = null;
  /** Frames pushed while the VAD loads. */
  readonly #early: Int16Array[] = [];
  /** Samples of a partial frame. */
  readonly #partial = new Int16Array(vadFrameSamples);
  #partialLength = 0;
  /** The latest frames while silent: the pre-roll and the voiced run that may start speech. */
  readonly #recent: Int16Array[] = [];
  /** The utterance being spoken, null while silent. */
  #utterance: Int16Array[] | null = null;
  /** Uploads under way, aborted by `close()`. */
  readonly #uploads = new Set<AbortController>();
  /** Transcripts leave in the order the utterances were spoken. */
  #delivery: Promise<void> = Promise.resolve();
  readonly #onAbort = () => this.close();
  readonly #preRollFrames: number;
  readonly #postRollFrames: number;
  readonly #maxFrames: number;
  /** What was heard and sent, for tests and logs. */
  readonly stats = { utterances: 0, uploads: 0, emptyTexts: 0 };
  readonly #listeners: SttListeners;

  constructor(
    private readonly url: string,
    private readonly apiKey: string | null,
    private readonly opts: SttOptions,
    private readonly settings: Settings,
  ) {
    this.#listeners = new SttListeners('openai stt', settings.logger);
    this.#preRollFrames = Math.round(settings.preRollMs / frameMs);
    this.#postRollFrames = Math.round(settings.postRollMs / frameMs);
    this.#maxFrames = Math.max(1, Math.round(settings.maxUtteranceMs / frameMs));
    if (opts.signal.aborted) queueMicrotask(this.#onAbort);
    else opts.signal.addEventListener('abort', this.#onAbort, { once: true });
    VoiceActivity.create({ endSilenceMs: opts.endSilenceMs ?? defaultEndSilenceMs }).then(
      (vad) => this.#ready(vad),
      (err: unknown) => this.#fail(new ProviderError('openai', 'unavailable', `voice activity detector: ${String(err)}`)),
    );
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
    if ((this.#state !== 'starting' && this.#state !== 'listening') || !(pcm instanceof Int16Array)) return;
    if (this.#partialLength === 0 && pcm.length === vadFrameSamples) {
      this.#frame(pcm.slice());
      return;
    }
    for (let at = 0; at < pcm.length; ) {
      const take = Math.min(vadFrameSamples - this.#partialLength, pcm.length - at);
      this.#partial.set(pcm.subarray(at, at + take), this.#partialLength);
      this.#partialLength += take;
      at += take;
      if (this.#partialLength === vadFrameSamples) {
        this.#partialLength = 0;
        this.#frame(this.#partial.slice());
      }
    }
  }

  close(): void {
    this.#transition('closed');
  }

  #transition(to: State): boolean {
    if (!moves[this.#state].includes(to)) return false;
    this.#state = to;
    if (to === 'closed' || to === 'failed') {
      this.opts.signal.removeEventListener('abort', this.#onAbort);
      for (const upload of this.#uploads) upload.abort();
      this.#uploads.clear();
      this.#vad?.close();
      this.#vad = null;
      this.#early.length = 0;
      this.#recent.length = 0;
      this.#utterance = null;
    }
    return true;
  }

  #ready(vad: VoiceActivity): void {
    if (!this.#transition('listening')) {
      vad.close();
      return;
    }
    this.#vad = vad;
    for (const f of this.#early.splice(0)) this.#frame(f);
  }

  /** One 20 ms frame of the caller's audio (owned here). */
  #frame(frame: Int16Array): void {
    const vad = this.#vad;
    if (!vad) {
      this.#early.push(frame);
      if (this.#early.length > maxEarlyFrames) this.#early.shift();
      return;
    }
    const event = vad.push(frame);
    if (this.#utterance) {
      this.#utterance.push(frame);
      if (event === 'speech_end') {
        // The last `endFrames` frames are the silence that ended speech: keep `postRollFrames`
        // of it. None left means the speech ended in the piece already uploaded.
        const speech = this.#utterance.length - vad.endFrames;
        if (speech > 0) this.#upload(this.#utterance.slice(0, speech + this.#postRollFrames));
        this.#utterance = null;
      } else if (this.#utterance.length >= this.#maxFrames) {
        this.#upload(this.#utterance);
        this.#utterance = [];
      }
      return;
    }
    this.#recent.push(frame);
    if (this.#recent.length > this.#preRollFrames + vad.startFrames) this.#recent.shift();
    if (event === 'speech_start') {
      this.#utterance = this.#recent.splice(0);
    }
  }

  #upload(frames: Int16Array[]): void {
    if (!frames.length) return;
    this.stats.utterances++;
    const samples = new Int16Array(frames.length * vadFrameSamples);
    frames.forEach((f, i) => samples.set(f, i * vadFrameSamples));
    const controller = new AbortController();
    this.#uploads.add(controller);
    const answer = this.#transcribe(writeWav({ sampleRate: vadSampleRate, channels: 1, samples }), controller).finally(() => this.#uploads.delete(controller));
    // Each transcript waits for the ones before it; a failure ends the stream where it happens.
    this.#delivery = this.#delivery.then(async () => {
      const result = await answer;
      if (this.#state !== 'listening') return;
      if (result instanceof ProviderError) this.#fail(result);
      else if (result.trim()) this.#listeners.transcript({ text: result.trim(), final: true, endOfTurn: true });
      else this.stats.emptyTexts++;
    });
  }

  /** The text of one utterance, or the error that kept it (never rejects). */
  async #transcribe(wav: Buffer, controller: AbortController): Promise<string | ProviderError> {
    this.stats.uploads++;
    const form = new FormData();
    form.append('file', new Blob([wav], { type: 'audio/wav' }), 'utterance.wav');
    form.append('model', this.opts.model ?? 'gpt-4o-mini-transcribe');
    if (this.opts.language) form.append('language', this.opts.language);
    const hints = (this.opts.hints ?? []).map((h) => h.trim()).filter(Boolean);
    if (hints.length) form.append('prompt', hints.join(', '));
    form.append('response_format', 'json');
    const timer = setTimeout(() => controller.abort('timeout'), this.settings.timeoutMs);
    try {
      const res = await outbound().fetch(this.url, {
        method: 'POST',
        headers: this.apiKey ? { Authorization: `Bearer ${this.apiKey}` } : {},
        body: form,
        signal: controller.signal,
        redirect: 'error',
      });
      const { text: body, truncated } = await readCapped(res, maxAnswerBytes);
      if (truncated) return new ProviderError('openai', 'bad_response', `answer larger than ${maxAnswerBytes} bytes`, res.status);
      if (!res.ok) return httpError(res.status, body);
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        return new ProviderError('openai', 'bad_response', 'answer is not JSON', res.status);
      }
      const parsed = transcription.safeParse(json);
      return parsed.success ? parsed.data.text : new ProviderError('openai', 'bad_response', 'answer has no text', res.status);
    } catch (err) {
      if (controller.signal.aborted && controller.signal.reason === 'timeout') {
        return new ProviderError('openai', 'timeout', `no answer within ${this.settings.timeoutMs} ms`);
      }
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      return new ProviderError('openai', 'network', cause?.code ?? cause?.message ?? (err as Error).message);
    } finally {
      clearTimeout(timer);
    }
  }

  #fail(err: ProviderError): void {
    if (!this.#transition('failed')) return;
    this.#listeners.error(err);
  }


}

/** An error answer as a `ProviderError`; the service's own message is kept, but never for auth. */
function httpError(status: number, body: string): ProviderError {
  const code = httpErrorCode(status);
  if (code === 'auth') return new ProviderError('openai', code, `refused with ${status}`, status);
  let detail = '';
  try {
    const parsed = errorBody.safeParse(JSON.parse(body));
    if (parsed.success) detail = `: ${parsed.data.error.message.slice(0, 200)}`;
  } catch {
    // Not JSON: the status says enough.
  }
  return new ProviderError('openai', code, `answered ${status}${detail}`, status);
}

