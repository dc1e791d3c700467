/**
 * Runs a tool on a live call, for a workflow `tool` node or the LLM. The arguments are checked
 * against the tool's JSON Schema first (the model's arguments are untrusted). A webhook goes
 * through the signed runner (`webhook.ts`), retried with backoff when a retry cannot do harm: a
 * PUT (idempotent) on a timeout, network error, 429 or 5xx; any method when the connection was
 * refused (the request never reached the server). A built-in acts on the call through `host`.
 *
 * Never throws: every failure is an outcome with `ok: false` and an error the caller speaks a
 * fallback for and logs.
 */
import { validateJson } from '../json-schema.js';
import type { Tool } from '../../store/repositories/tools.js';
import { invokeWebhook } from '../webhook.js';
import { sleep } from '../../calls/call-steps.js';

/** What a built-in tool does to the call. */
export interface BuiltinHost {
  /** Hangs up once the agent has finished speaking. */
  hangup(): void;
  /** Ends the call at once; `reason` goes into the transcript. */
  endCall(reason: string): void;
  sendDtmf(digits: string): Promise<void>;
  /** Resolves true when the call was transferred (the call then ends). */
  transfer(target: string): Promise<boolean>;
}

export interface ToolOutcome {
  ok: boolean;
  /** The webhook's response body (parsed JSON or text), or what the built-in did. */
  result: unknown;
  error?: { code: string; message: string };
  status?: number;
  attempts: number;
  durationMs: number;
}

interface RunOptions {
  callId: string;
  host: BuiltinHost;
  /** Retries after the first try, for the cases above. */
  retries?: number;
  /** First backoff; doubles each retry. */
  backoffMs?: number;
  signal: AbortSignal;
}

export async function runTool(tool: Tool, args: unknown, o: RunOptions): Promise<ToolOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const issues = validateJson(tool.parameters, args);
  if (issues.length) {
    const message = issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join('.') : 'arguments'}: ${i.message}`).join('; ');
    return { ok: false, result: null, error: { code: 'invalid_arguments', message }, attempts: 0, durationMs: elapsed() };
  }
  const action = tool.action;
  if (action.type === 'builtin') {
    try {
      const result = await runBuiltin(action.name, args as Record<string, unknown>, o.host);
      return { ok: true, result, attempts: 1, durationMs: elapsed() };
    } catch (err) {
      return { ok: false, result: null, error: { code: 'builtin_failed', message: (err as Error).message }, attempts: 1, durationMs: elapsed() };
    }
  }
  const retries = o.retries ?? 2;
  let backoff = o.backoffMs ?? 250;
  for (let attempt = 1; ; attempt++) {
    const r = await invokeWebhook({ action, tool: tool.name, arguments: args as Record<string, unknown>, callId: o.callId });
    const retryable =
      'error' in r
        ? r.error.code === 'connection_refused' || (action.method === 'PUT' && r.error.code !== 'dns_error' && r.error.code !== 'outbound_refused')
        : action.method === 'PUT' && (r.status === 429 || r.status >= 500);
    // The call's end stops the retries: its sleep rejects (StepAborted) and the last answer stands.
    const retry = retryable && attempt <= retries && (await sleep(backoff, o.signal).then(() => true, () => false));
    if (!retry) {
      if ('error' in r) return { ok: false, result: null, error: r.error, attempts: attempt, durationMs: elapsed() };
      return r.ok
        ? { ok: true, result: r.body, status: r.status, attempts: attempt, durationMs: elapsed() }
        : { ok: false, result: r.body, status: r.status, error: { code: 'http_error', message: `HTTP ${r.status}` }, attempts: attempt, durationMs: elapsed() };
    }
    backoff *= 2;
  }
}

const digitsPattern = /^[0-9*#A-Da-d]{1,32}$/;

async function runBuiltin(name: 'transfer' | 'hangup' | 'send_dtmf' | 'end_call', args: Record<string, unknown>, host: BuiltinHost): Promise<unknown> {
  switch (name) {
    case 'hangup':
      host.hangup();
      return { hangingUp: true };
    case 'end_call': {
      const reason = typeof args.reason === 'string' ? args.reason.slice(0, 200) : 'ended by the agent';
      host.endCall(reason);
      return { ended: true, reason };
    }
    case 'send_dtmf': {
      const digits = typeof args.digits === 'string' ? args.digits : '';
      if (!digitsPattern.test(digits)) throw new Error('"digits" must be 1-32 of 0-9, *, #, A-D');
      await host.sendDtmf(digits.toUpperCase());
      return { sent: digits };
    }
    case 'transfer': {
      const target = typeof args.target === 'string' ? args.target : '';
      if (!/^(\+\d{8,15}|sips?:[^\s]{1,256})$/.test(target)) throw new Error('"target" must be an E.164 number or a sip: URI');
      const done = await host.transfer(target);
      if (!done) throw new Error(`transfer to ${target} failed`);
      return { transferred: target };
    }
  }
}
