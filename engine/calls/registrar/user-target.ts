/**
 * A transfer to one of the tenant's SIP users (`sip:<username>@<tenant id>.<mode>`, the address
 * of record the registrar serves): the engine dials the user's newest binding itself and bridges
 * it, never a REFER (the caller's carrier cannot reach the user's device, nor resolve the
 * tenant's SIP domain). A binding made over a WebSocket is a browser: it is offered WebRTC media
 * (`media: 'webrtc'`). A user without a binding, or another tenant's, is refused before anything
 * is sent.
 */
import { parseSipUri } from '../../sip/message/uri.js';
import type { Scope } from '../../store/repositories/scoped.js';
import type { ResolvedTarget, TargetRefusal } from '../transfer-target.js';
import { mediaOfBinding, type Binding } from './bindings.js';
import { aorOf, scopeOfSipDomain } from './sip-domain.js';

export interface BindingSource {
  registrationsOf(aor: string): Binding[];
}

/** The target as a registered user's contact; null when `target` names no tenant's SIP user. */
export function registeredUserTarget(target: string, scope: Scope, registrar: BindingSource | undefined): ResolvedTarget | TargetRefusal | null {
  let host: string;
  let user: string | null;
  try {
    ({ host, user } = parseSipUri(target));
  } catch {
    return null;
  }
  const owner = scopeOfSipDomain(host);
  if (!owner) return null;
  if (owner.tenantId !== scope.tenantId || owner.mode !== scope.mode) return { error: 'target is not a SIP user of this tenant' };
  if (!user) return { error: 'target names no SIP user' };
  if (!registrar) return { error: 'SIP users cannot be reached here (no registrar)' };
  const bindings = registrar.registrationsOf(aorOf(scope, user));
  if (!bindings.length) return { error: `SIP user ${user} is not registered` };
  const newest = bindings.reduce((a, b) => (b.registeredAt > a.registeredAt ? b : a));
  return { uri: newest.contact, auth: null, media: mediaOfBinding(newest) };
}
