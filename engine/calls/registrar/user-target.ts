/**
 * A call from the engine to one of the tenant's SIP users (`sip:<username>@<tenant id>.<mode>`,
 * the address of record the registrar serves): a transfer, or an outbound call placed through
 * the API. The engine rings every binding of the user at once itself (user-dial.ts; a transfer
 * bridges it, never a REFER: the caller's carrier cannot reach the user's device, nor resolve the
 * tenant's SIP domain). A user without a binding, or another tenant's, is refused before
 * anything is sent. A binding whose Contact is reached down a WebSocket is a browser: it is
 * offered WebRTC media (`mediaOfBinding`).
 */
import { parseSipUri } from '../../sip/message/uri.js';
import type { Scope } from '../../store/repositories/scoped.js';
import type { ResolvedTarget, TargetRefusal } from '../transfer-target.js';
import { newestFirst } from './bridge-targets.js';
import { mediaOfBinding, type Binding } from './bindings.js';
import { aorOf, scopeOfSipDomain } from './sip-domain.js';

export interface BindingSource {
  registrationsOf(aor: string): Binding[];
}

/**
 * Every binding of the SIP user `target` names, newest first; a refusal when it names another
 * tenant's user, no user, or one with no binding now; null when `target` names no tenant's SIP
 * user at all.
 */
export function userBindings(target: string, scope: Scope, registrar: BindingSource | undefined): Binding[] | TargetRefusal | null {
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
  return newestFirst(bindings);
}

/**
 * The target as a registered user's bindings (all of them ring; `uri` and `media` are the newest
 * one's, for the logs); null when `target` names no tenant's SIP user.
 */
export function registeredUserTarget(target: string, scope: Scope, registrar: BindingSource | undefined): ResolvedTarget | TargetRefusal | null {
  const bindings = userBindings(target, scope, registrar);
  if (!bindings || 'error' in bindings) return bindings;
  const newest = bindings[0]!;
  return { uri: newest.contact, auth: null, media: mediaOfBinding(newest), bindings };
}
