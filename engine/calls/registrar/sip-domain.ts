/**
 * Which tenant a REGISTER belongs to: the domain of its address-of-record. A tenant's SIP users
 * are `sip:<username>@<tenant id>.live` (live mode) and `sip:<username>@<tenant id>.test` (test
 * mode). The tenant id (a UUID) is unique without any new setting or column, and the domain never
 * needs DNS (a browser reaches the engine by its WebSocket URL, a device by its outbound proxy);
 * usernames then only need to be unique per tenant and mode. The mode is the top label because
 * RFC 3261 §25.1 `toplabel` must start with a letter, and a UUID may start with a digit.
 */
import type { Scope } from '../../store/repositories/scoped.js';
import type { Store } from '../../store/store.js';
import type { SipUserLookup } from './registrar.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The SIP domain of a tenant's users in a mode. */
export function sipDomainOf(scope: Scope): string {
  return `${scope.tenantId}.${scope.mode}`;
}

/** The tenant and mode a SIP domain names, or undefined when it names none. */
export function scopeOfSipDomain(host: string): Scope | undefined {
  const m = /^(.*)\.(live|test)$/.exec(host.toLowerCase());
  return m && UUID.test(m[1]!) ? { tenantId: m[1]!, mode: m[2] as Scope['mode'] } : undefined;
}

/** The address-of-record of a tenant's user. */
export function aorOf(scope: Scope, username: string): string {
  return `sip:${username}@${sipDomainOf(scope)}`;
}

/** The registrar's lookup over the store's SIP users. */
export function storeSipUsers(store: Store): SipUserLookup {
  return ({ user, host }) => {
    const scope = scopeOfSipDomain(host);
    const u = scope && store.sipUsers.byUsername(scope, user);
    return u ? { id: u.id, username: u.username, password: u.password } : undefined;
  };
}
