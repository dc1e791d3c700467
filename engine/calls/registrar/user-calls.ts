/**
 * Calls to a registered SIP user: an INVITE whose Request-URI is an address-of-record of a
 * tenant's SIP domain (`sip:<username>@<tenant id>.<mode>`) is proxied (RFC 3261 §16, through
 * drachtio-srf's `proxyRequest`) to every current binding of that AOR at once (§16.6 forking),
 * the proxy record-routing so that the dialog's requests come back through the engine (a browser
 * can reach nothing but the engine). Only the tenant's own SIP users may call: the caller's From
 * is an AOR of the same domain and its credentials (Proxy-Authorization, §22.3) verify, else 407.
 * No media passes through the engine when both ends speak the same media (browser to browser is
 * WebRTC end to end, phone to phone plain RTP); a phone calling a browser, or the reverse, is
 * bridged by the engine with the media through mediasoup (user-bridge.ts).
 *
 * A Request-URI that names one of the tenant's agents or numbers (`agentCalls`, see
 * ../user-agent-route.ts) is no user: after the same authentication, the engine answers it (or,
 * for a number that rings a SIP user, bridges it to that user's devices as a `web` call record).
 */
import type Srf from 'drachtio-srf';
import type { Logger } from '../../../config/logger.js';
import { parseNameAddr } from '../../sip/message/name-addr.js';
import { parseUri } from '../../sip/message/uri.js';
import type { Registrar } from './registrar.js';
import { scopeOfSipDomain } from './sip-domain.js';
import type { Binding } from './bindings.js';
import { bridgeTargets } from './bridge-targets.js';

/** How long the called user's devices may ring before the caller gets 408 (drachtio's finalTimeout). */
const RING_TIMEOUT = '60s';

/**
 * Takes an authenticated user's call when its callee names an agent or a number
 * (user-agent-route.ts) and returns true; false leaves it to be proxied to the callee's devices.
 */
export type AgentCalls = (req: Srf.SrfRequest, res: Srf.SrfResponse, callee: { user: string; host: string }, callerAor: string) => boolean;

/**
 * Takes a call the engine must bridge (the caller's media and the callee's bindings differ; see
 * ../trunk-user-call.ts `runBridgedCall`): `bindings` ring, newest first.
 */
export type BridgedCalls = (req: Srf.SrfRequest, res: Srf.SrfResponse, callee: { host: string; aor: string; caller: string; bindings: Binding[] }) => void;

export class UserCalls {
  constructor(
    private readonly srf: Srf,
    private readonly registrar: Registrar,
    private readonly log: Logger,
    private readonly agentCalls: AgentCalls = () => false,
    /** Calls whose caller and callee do not speak the same media; proxied regardless when absent. */
    private readonly bridged?: BridgedCalls,
  ) {}

  /** The AOR an INVITE is for when its Request-URI names a tenant's SIP domain, else null. */
  aorOf(req: Srf.SrfRequest): { user: string; host: string } | null {
    try {
      const uri = parseUri(req.uri);
      if (uri.kind !== 'sip' || !uri.user || !scopeOfSipDomain(uri.host)) return null;
      return { user: uri.user, host: uri.host.toLowerCase() };
    } catch {
      return null;
    }
  }

  /** Authenticates the caller, then hands a call to an agent on, or forks the INVITE to the callee's bindings. */
  handle(req: Srf.SrfRequest, res: Srf.SrfResponse, callee: { user: string; host: string }): void {
    let caller;
    try {
      caller = parseNameAddr(req.get('From'), 'From').uri;
    } catch {
      res.send(400);
      return;
    }
    // Callers are the SIP users of the callee's own tenant and mode.
    if (caller.kind !== 'sip' || !caller.user || caller.host.toLowerCase() !== callee.host) {
      res.send(403);
      return;
    }
    const header = req.has('Proxy-Authorization') ? req.get('Proxy-Authorization') : undefined;
    const auth = this.registrar.authenticate('INVITE', header, { user: caller.user, host: callee.host });
    if (auth.verdict === 'challenge' || auth.verdict === 'stale') {
      res.send(407, { headers: { 'Proxy-Authenticate': auth.challenge } });
      return;
    }
    if (auth.verdict === 'bad') {
      res.send(403);
      return;
    }
    // A web identity calls the one agent or number it was issued for (a browser's password is
    // the end user's to see: it must not reach the tenant's other agents or users).
    const only = auth.verdict === 'ok' ? auth.user.onlyCalls : undefined;
    if (only !== undefined && only.toLowerCase() !== callee.user.toLowerCase()) {
      this.log.info({ caller: caller.user, callee: callee.user }, 'call refused: a web identity calls only its target');
      res.send(403, { headers: { Warning: '399 agent-studio "This identity may call only its target"' } });
      return;
    }
    if (this.agentCalls(req, res, callee, `sip:${caller.user}@${callee.host}`)) return;
    const aor = `sip:${callee.user}@${callee.host}`;
    // Each binding's Contact is reached down its flow (a WebSocket client's *.invalid host is an
    // alias of its socket; a device's Contact is its address).
    const targets = this.registrar.registrationsOf(aor).map((b) => b.contact);
    if (targets.length === 0) {
      res.send(480, { headers: { Warning: '399 agent-studio "The user is not registered"' } });
      return;
    }
    // A phone calling a browser (or the reverse) cannot be proxied: the engine bridges it (user-bridge.ts).
    const bridgeTo = this.bridged ? bridgeTargets(req.body, this.registrar.registrationsOf(aor)) : null;
    if (this.bridged && bridgeTo) {
      this.bridged(req, res, { host: callee.host, aor, caller: caller.user, bindings: bridgeTo });
      return;
    }
    this.log.info({ aor, caller: caller.user, bindings: targets.length }, 'call to a registered user');
    this.srf.proxyRequest(req, targets, { forking: 'simultaneous', recordRoute: true, remainInDialog: true, finalTimeout: RING_TIMEOUT }, (err: unknown) => {
      if (err) this.log.warn({ err, aor }, 'call to a registered user failed');
    });
  }
}
