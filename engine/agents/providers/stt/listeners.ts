/**
 * The listeners of one STT stream (`SttStream.onTranscript` / `onError`), as both providers
 * need them: a listener that throws is logged and the stream goes on, and an error that comes
 * before `onError` is registered is delivered when it is (once).
 */
import type { Logger } from 'pino';
import type { ProviderError, SttTranscript } from '../contracts.js';

export class SttListeners {
  #onTranscript: (t: SttTranscript) => void = () => {};
  #onError: ((e: ProviderError) => void) | null = null;
  #undelivered: ProviderError | null = null;

  constructor(
    private readonly name: string,
    private readonly logger: Pick<Logger, 'warn'> | undefined,
  ) {}

  onTranscript(fn: (t: SttTranscript) => void): void {
    this.#onTranscript = fn;
  }

  onError(fn: (err: ProviderError) => void): void {
    this.#onError = fn;
    const late = this.#undelivered;
    this.#undelivered = null;
    if (late) this.error(late);
  }

  transcript(t: SttTranscript): void {
    try {
      this.#onTranscript(t);
    } catch (err) {
      this.logger?.warn({ err }, `${this.name} transcript listener threw`);
    }
  }

  error(e: ProviderError): void {
    if (!this.#onError) {
      this.#undelivered = e;
      return;
    }
    try {
      this.#onError(e);
    } catch (err) {
      this.logger?.warn({ err }, `${this.name} error listener threw`);
    }
  }
}
