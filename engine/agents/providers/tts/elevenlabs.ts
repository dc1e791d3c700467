/**
 * ElevenLabs' streaming endpoint: `POST {baseUrl}/v1/text-to-speech/{voiceId}/stream` with
 * `output_format=ulaw_8000`, which streams G.711 μ-law at 8 kHz: decoded as it arrives.
 */
import { g711Decode } from '../../../../media/audio/g711.js';
import { ProviderError, type TtsProvider, type TtsRequest } from '../contracts.js';
import { postForAudio } from './http-audio.js';
import { httpTtsDefaults, type HttpTtsOptions } from './openai.js';

export const elevenLabsDefaultBaseUrl = 'https://api.elevenlabs.io';
export const elevenLabsDefaultModel = 'eleven_flash_v2_5';

/** The streaming URL for a base URL and voice (trailing slashes ignored). */
export const elevenLabsStreamUrl = (baseUrl: string | null, voiceId: string) =>
  `${(baseUrl ?? elevenLabsDefaultBaseUrl).replace(/\/+$/, '')}/v1/text-to-speech/${encodeURIComponent(voiceId)}/stream?output_format=ulaw_8000`;

export class ElevenLabsTts implements TtsProvider {
  readonly name = 'elevenlabs';
  readonly #opts: HttpTtsOptions;

  constructor(opts: HttpTtsOptions) {
    this.#opts = opts;
  }

  async *synthesize(req: TtsRequest): AsyncIterable<Int16Array> {
    const apiKey = this.#opts.credential.apiKey;
    if (!apiKey) throw new ProviderError(this.name, 'auth', 'no API key configured');
    if (!req.voiceId) throw new ProviderError(this.name, 'http_error', 'a voice ID is required');
    const body: Record<string, string> = { text: req.text, model_id: this.#opts.model ?? elevenLabsDefaultModel };
    // ISO 639-1, which the multilingual models take to force a language ('en-US' -> 'en').
    if (req.language) body.language_code = req.language.split(/[-_]/)[0]!.toLowerCase();
    const audio = postForAudio({
      provider: this.name,
      url: elevenLabsStreamUrl(this.#opts.credential.baseUrl, req.voiceId),
      headers: { 'xi-api-key': apiKey, accept: 'audio/basic' },
      body,
      signal: req.signal,
      firstByteTimeoutMs: this.#opts.firstByteTimeoutMs ?? httpTtsDefaults.firstByteTimeoutMs,
      idleTimeoutMs: this.#opts.idleTimeoutMs ?? httpTtsDefaults.idleTimeoutMs,
      secret: apiKey,
    });
    for await (const bytes of audio) yield g711Decode('PCMU', bytes);
  }
}
