/**
 * The providers of a tenant's calls. An agent names its voice, transcriber and LLM by provider
 * name (`config.voice.provider` …); the name is looked up among the tenant's providers
 * (`/api/v1/providers`: kind, base URL, key) when a call starts, so a changed key applies to the
 * next call. The offline voice, `flite`, needs no credential: it is the default voice, and the
 * fallback when an agent's own voice fails. Finished syntheses are cached (by provider, voice and
 * text), so a workflow's fixed prompts are synthesised once.
 */
import type { Logger } from '../../../config/logger.js';
import { VoiceActivity } from '../../../media/audio/vad.js';
import type { Scope } from '../../store/repositories/scoped.js';
import type { Store } from '../../store/store.js';
import type { AgentConfig } from '../agent-config.js';
import { Conversation } from '../llm/conversation.js';
import type { AgentProviders } from '../runtime/session.js';
import { ProviderError, type LlmProvider, type SttProvider, type TtsProvider } from './contracts.js';
import { OpenAiChat } from './llm/openai-chat.js';
import { BUILTIN_TTS, servesRole, type ProviderRole } from './provider-kinds.js';
import { DeepgramStt } from './stt/deepgram.js';
import { OpenAiStt } from './stt/openai.js';
import { CachedTts } from './tts/cache.js';
import { ElevenLabsTts } from './tts/elevenlabs.js';
import { FliteTts } from './tts/flite.js';
import { OpenAiTts } from './tts/openai.js';

/** Voice activity as barge-in needs it: 40 ms of voiced audio starts speech (measured: 30 ms mean, 40 ms worst after onset). */
const VAD_START_MS = 40;
/** Cloud voices cached per tenant and provider; the least recently used cache is dropped past this. */
const MAX_VOICE_CACHES = 64;
const VOICE_CACHE_BYTES = 4 * 1024 * 1024;

export class ProviderRegistry {
  readonly #flite: FliteTts;
  readonly #offline: CachedTts;
  readonly #voices = new Map<string, CachedTts>();

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {
    this.#flite = new FliteTts({ log: log.child({ component: 'flite' }) });
    this.#offline = new CachedTts(this.#flite, { maxBytes: 32 * 1024 * 1024 });
  }

  /** The providers of one tenant's calls, in one mode. */
  forScope(scope: Scope): AgentProviders {
    const resolve = (name: string, role: ProviderRole) => {
      const p = this.store.providers.resolve(scope.tenantId, scope.mode, name);
      if (!p) throw new ProviderError(name, 'unavailable', `no provider named "${name}" (create it under /api/v1/providers)`);
      if (!servesRole(p.kind, role)) throw new ProviderError(name, 'unavailable', `provider "${name}" is of kind ${p.kind}, which cannot serve as ${role}`);
      return p;
    };
    return {
      fallbackTts: this.#offline,
      tts: (voice: AgentConfig['voice']): TtsProvider => {
        if (!voice || voice.provider === BUILTIN_TTS) return this.#offline;
        const p = resolve(voice.provider, 'voice');
        const key = `${scope.tenantId}/${scope.mode}/${voice.provider}/${p.kind}/${p.baseUrl ?? ''}/${p.apiKey ?? ''}`;
        let cached = this.#voices.get(key);
        if (cached) this.#voices.delete(key);
        else {
          const credential = { apiKey: p.apiKey, baseUrl: p.baseUrl };
          cached = new CachedTts(p.kind === 'elevenlabs' ? new ElevenLabsTts({ credential }) : new OpenAiTts({ credential }), { maxBytes: VOICE_CACHE_BYTES });
        }
        this.#voices.set(key, cached);
        if (this.#voices.size > MAX_VOICE_CACHES) this.#voices.delete(this.#voices.keys().next().value!);
        return cached;
      },
      stt: (t: AgentConfig['transcriber']): SttProvider | null => {
        if (!t) return null;
        const p = resolve(t.provider, 'transcriber');
        const credential = { apiKey: p.apiKey, baseUrl: p.baseUrl };
        const logger = this.log;
        return p.kind === 'deepgram' ? new DeepgramStt(credential, { logger }) : new OpenAiStt(credential, { logger });
      },
      llm: (l: AgentConfig['llm']): LlmProvider | null => {
        if (!l) return null;
        const p = resolve(l.provider, 'llm');
        return new OpenAiChat({ apiKey: p.apiKey, baseUrl: p.baseUrl, name: l.provider });
      },
      conversation: (o) => new Conversation(o),
      vad: () => VoiceActivity.create({ startMs: VAD_START_MS }),
    };
  }

  async close(): Promise<void> {
    await this.#flite.close();
  }
}
