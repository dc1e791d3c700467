/** Events appended through the real event log, as call control appends them. */
import type { App } from '../../../api/app.js';
import type { StoredEvent } from '../../../engine/events/schemas.js';
import type { Mode } from '../../../engine/store/mode.js';

export interface Scope {
  tenantId: string;
  mode: Mode;
}

/** `call.started` of a call, with an optional agent. */
export function callStarted(app: App, s: Scope, callId: string, agentId: string | null = null): StoredEvent {
  return app.engine.events.append('call.started', { ...s, callId }, {
    callId,
    agentId,
    direction: 'inbound',
    from: { uri: 'sip:+15550100@198.51.100.7', number: '+15550100' },
    to: { uri: 'sip:service@127.0.0.1', number: '+15550199' },
    trunkId: null,
    sipCallId: `${callId}@198.51.100.7`,
  });
}

export function callEnded(app: App, s: Scope, callId: string, agentId: string | null = null): StoredEvent {
  return app.engine.events.append('call.ended', { ...s, callId }, {
    callId,
    agentId,
    endReason: 'caller_hangup',
    hangupBy: 'caller',
    durationMs: 1000,
  });
}

export function callRinging(app: App, s: Scope, callId: string, agentId: string | null = null): StoredEvent {
  return app.engine.events.append('call.ringing', { ...s, callId }, { callId, agentId });
}

export function agentUpdated(app: App, s: Scope, agentId: string): StoredEvent {
  return app.engine.events.append('agent.updated', s, { agentId });
}

/** A transcript line of `bytes` characters: a big event for backpressure tests. */
export function transcript(app: App, s: Scope, callId: string, bytes: number): StoredEvent {
  return app.engine.events.append('call.transcript', { ...s, callId }, { callId, agentId: null, role: 'user', text: 'x'.repeat(bytes), final: true });
}

/** How the SSE stream writes one event. */
export const sseBlock = (e: StoredEvent) => ({ id: String(e.id), event: e.type, data: JSON.stringify(e) });

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
