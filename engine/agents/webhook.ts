/**
 * Runs a tool's webhook action once: a JSON POST (or PUT/PATCH) carrying the arguments and a
 * timestamp, signed when the tool has a secret, bounded by the tool's timeout.
 *
 * Signing: the scheme of `../webhooks/signature.ts` (shared with event webhooks):
 * `X-AgentStudio-Timestamp: <unix seconds>` and
 * `X-AgentStudio-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`. A
 * receiver recomputes the HMAC over the raw body and rejects stale timestamps (replays).
 */
import { outbound, outboundRefusal } from '../../lib/outbound-guard.js';
import { readCapped } from '../../lib/read-capped.js';
import { SIGNATURE_HEADER, signPayload, TIMESTAMP_HEADER } from '../webhooks/signature.js';
import type { WebhookAction } from './tool-definition.js';

/** Response bodies past this are cut: a tool result goes into an LLM prompt, not a download. */
const MAX_RESPONSE_BYTES = 256 * 1024;

interface WebhookCall {
  action: WebhookAction;
  /** The tool's name, sent as `tool`. */
  tool: string;
  arguments: Record<string, unknown>;
  /** The call on whose behalf the tool runs (null when testing). */
  callId: string | null;
}

type WebhookErrorCode = 'timeout' | 'connection_refused' | 'dns_error' | 'network_error' | 'outbound_refused';

type WebhookResult =
  | {
      ok: boolean;
      status: number;
      headers: Record<string, string>;
      /** Parsed when the response is JSON, text otherwise, null when empty. */
      body: unknown;
      truncated: boolean;
      durationMs: number;
    }
  | { ok: false; error: { code: WebhookErrorCode; message: string }; durationMs: number };

/** Performs the request. Never throws for network trouble: that is a result with `error`. */
export async function invokeWebhook(call: WebhookCall): Promise<WebhookResult> {
  const { action } = call;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const body = JSON.stringify({ tool: call.tool, arguments: call.arguments, callId: call.callId, timestamp: Number(timestamp) });
  const headers: Record<string, string> = { ...action.headers, 'content-type': 'application/json', [TIMESTAMP_HEADER]: timestamp };
  if (action.secret) headers[SIGNATURE_HEADER] = signPayload(action.secret, timestamp, body);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const signal = AbortSignal.timeout(action.timeoutMs);
  try {
    const res = await outbound().fetch(action.url, { method: action.method, headers, body, signal, redirect: 'manual' });
    const { text, truncated } = await readCapped(res, MAX_RESPONSE_BYTES);
    const type = res.headers.get('content-type') ?? '';
    return {
      ok: res.status >= 200 && res.status < 300,
      status: res.status,
      headers: Object.fromEntries(res.headers),
      body: parseBody(text, type, truncated),
      truncated,
      durationMs: elapsed(),
    };
  } catch (err) {
    return { ok: false, error: classify(err, action.timeoutMs), durationMs: elapsed() };
  }
}

function parseBody(text: string, contentType: string, truncated: boolean): unknown {
  if (text === '') return null;
  if (!truncated && /[/+]json\b/i.test(contentType)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/** What a failed `fetch` means, as an error code and a message (shared with event webhooks). */
export function classify(err: unknown, timeoutMs: number): { code: WebhookErrorCode; message: string } {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return { code: 'timeout', message: `No response within ${timeoutMs} ms` };
  const refused = outboundRefusal(err);
  if (refused) return { code: 'outbound_refused', message: refused.message };
  const code = e.cause?.code;
  if (code === 'ECONNREFUSED') return { code: 'connection_refused', message: 'Connection refused' };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { code: 'dns_error', message: `Host not found (${code})` };
  return { code: 'network_error', message: e.cause?.message ?? e.message ?? 'Request failed' };
}
