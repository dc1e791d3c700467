/**
 * OpenAI's speech endpoint: `POST {baseUrl}/audio/speech` with `response_format: "pcm"`, which
 * streams raw 24 kHz 16-bit little-endian mono PCM; resampled to 8 kHz as it arrives.
 */
import { Resampler } from '../../../../media/audio/resample.js';
import { ProviderError, type ProviderCredential, type TtsProvider, type TtsRequest } from '../contracts.js';
import { postForAudio } from './http-audio.js';

/** OpenAI-family base URLs include `/v1`, as the OpenAI SDKs' OPENAI_BASE_URL does. */
export const openAiDefaultBaseUrl = 'https://api.openai.com/v1';
export const openAiDefaultTtsModel = 'gpt-4o-mini-tts';
export const openAiDefaultVoice = 'alloy';
/** The `pcm` format's rate, fixed by the API. */
const pcmRate = 24000;

export interface HttpTtsOptions {
  credential: ProviderCredential;
  model?: string;
  /** Default 8 s: the services answer in well under a second. */
  firstByteTimeoutMs?: number;
  /** Default 5 s between chunks: a longer gap is already dead air on the call. */
  idleTimeoutMs?: number;
}

export const httpTtsDefaults = { firstByteTimeoutMs: 8000, idleTimeoutMs: 5000 };

/** The speech URL for a base URL (trailing slashes ignored). */
export const openAiSpeechUrl = (baseUrl: string | null) => `${(baseUrl ?? openAiDefaultBaseUrl).replace(/\/+$/, '')}/audio/speech`;

export class OpenAiTts implements TtsProvider {
  readonly name = 'openai';
  readonly #opts: HttpTtsOptions;

  constructor(opts: HttpTtsOptions) {
    this.#opts = opts;
  }

  async *synthesize(req: TtsRequest): AsyncIterable<Int16Array> {
    const apiKey = this.#opts.credential.apiKey;
    if (!apiKey) throw new ProviderError(this.name, 'auth', 'no API key configured');
    const resampler = new Resampler(pcmRate, 8000);
    const body = postForAudio({
      provider: this.name,
      url: openAiSpeechUrl(this.#opts.credential.baseUrl),
      headers: { authorization: `Bearer ${apiKey}` },
      body: { model: this.#opts.model ?? openAiDefaultTtsModel, input: req.text, voice: req.voiceId || openAiDefaultVoice, response_format: 'pcm' },
      signal: req.signal,
      firstByteTimeoutMs: this.#opts.firstByteTimeoutMs ?? httpTtsDefaults.firstByteTimeoutMs,
      idleTimeoutMs: this.#opts.idleTimeoutMs ?? httpTtsDefaults.idleTimeoutMs,
      secret: apiKey,
    });
    for await (const bytes of body) {
      const pcm = resampler.pushBytes(bytes);
      if (pcm.length) yield pcm;
    }
    if (req.signal.aborted) return;
    const tail = resampler.flush();
    if (tail.length) yield tail;
  }
}
