/**
 * A streamed HTTP POST for TTS services that answer with audio bytes: yields the body as it
 * arrives, and turns every failure into a `ProviderError` with a stable code. A timer guards
 * the first byte of the body and another the gap between chunks; aborting the caller's signal,
 * or stopping the iteration, cancels the request and closes the connection.
 */
import { readCapped } from '../../../../lib/read-capped.js';
import { outbound } from '../../../../lib/outbound-guard.js';
import { httpErrorCode, ProviderError } from '../contracts.js';

export interface AudioPost {
  provider: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
  signal: AbortSignal;
  /** From sending the request to the first byte of the body. */
  firstByteTimeoutMs: number;
  /** Longest silence between two chunks of the body. */
  idleTimeoutMs: number;
  /** Never to appear in an error message (the API key: some services echo it back). */
  secret: string;
}

/** An error body is quoted up to this many characters: enough to read the service's reason. */
const excerptChars = 200;
/** An error body is read this far at most. */
const maxErrorBytes = 64 * 1024;
/**
 * More audio than any one request can mean (5,000 characters are about 6 minutes; 10 minutes of
 * 24 kHz 16-bit PCM is 28.8 MB): a service streaming past it is broken, and is cut off before it
 * fills memory.
 */
const maxAudioBytes = 32 * 1024 * 1024;

export async function* postForAudio(p: AudioPost): AsyncGenerator<Uint8Array> {
  const fail = (code: ProviderError['code'], message: string, status?: number) =>
    new ProviderError(p.provider, code, redact(message, p.secret), status);
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  p.signal.addEventListener('abort', onAbort, { once: true });
  if (p.signal.aborted) ac.abort();
  /** Which timer fired, if one did. */
  let timedOut: string | null = null;
  let timer: NodeJS.Timeout | null = null;
  const arm = (ms: number, what: string) => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = `no ${what} within ${ms} ms`;
      ac.abort();
    }, ms);
  };
  try {
    if (ac.signal.aborted) return;
    arm(p.firstByteTimeoutMs, 'audio');
    let res: Response;
    try {
      res = await outbound().fetch(p.url, { method: 'POST', headers: { 'content-type': 'application/json', ...p.headers }, body: JSON.stringify(p.body), signal: ac.signal });
    } catch (err) {
      if (p.signal.aborted) return;
      if (timedOut) throw fail('timeout', timedOut);
      throw fail('network', `request failed: ${reason(err)}`);
    }
    if (!res.ok) {
      const { text } = await readCapped(res, maxErrorBytes).catch(() => ({ text: '' }));
      const excerpt = text.replace(/\s+/g, ' ').trim().slice(0, excerptChars);
      throw fail(httpErrorCode(res.status), `HTTP ${res.status}${excerpt ? `: ${excerpt}` : ''}`, res.status);
    }
    const type = res.headers.get('content-type') ?? '';
    if (/json|text\/html/i.test(type) || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      throw fail('bad_response', `expected audio, got ${type || 'no body'}`, res.status);
    }
    const reader = res.body.getReader();
    let total = 0;
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (err) {
        if (p.signal.aborted) return;
        if (timedOut) throw fail('timeout', timedOut);
        throw fail('network', `audio stream cut after ${total} bytes: ${reason(err)}`);
      }
      if (chunk.done) break;
      if (!chunk.value.length) continue;
      total += chunk.value.length;
      if (total > maxAudioBytes) throw fail('bad_response', `more than ${maxAudioBytes} bytes of audio for one request`, res.status);
      arm(p.idleTimeoutMs, 'further audio');
      yield chunk.value;
      if (p.signal.aborted) return;
    }
    if (total === 0) throw fail('bad_response', 'the service sent no audio', res.status);
  } finally {
    if (timer) clearTimeout(timer);
    p.signal.removeEventListener('abort', onAbort);
    // Stopped early (abort, timeout, or the consumer left): close the connection.
    ac.abort();
  }
}

/** What went wrong under fetch's generic "fetch failed" / "terminated". */
function reason(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

function redact(text: string, secret: string): string {
  return secret ? text.split(secret).join('[redacted]') : text;
}
