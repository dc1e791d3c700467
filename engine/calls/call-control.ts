/**
 * Call control on drachtio-srf. It connects to the SIP server over drachtio's wire protocol (the
 * embedded server, or an external drachtio-server: the code is the same; to the embedded server
 * in `embedded` mode through an in-process socket pair rather than loopback TCP, see
 * srf-in-process.ts), answers inbound
 * INVITEs and OPTIONS, tracks live calls for capacity and shutdown, and closes calls a crash
 * left open.
 */
import type { Registrar } from './registrar/registrar.js';
import { UserCalls, type AgentCalls, type BridgedCalls } from './registrar/user-calls.js';
import { scopeOfSipDomain } from './registrar/sip-domain.js';
import { routeUserCall } from './user-agent-route.js';
import { UserBridges } from './registrar/user-bridge.js';
import Srf from 'drachtio-srf';
import type { Logger } from '../../config/logger.js';
import type { EventLog } from '../events/event-log.js';
import type { Call } from './call.js';
import type { CallMetrics } from '../metrics/call-metrics.js';
import { SUPPORTED_OPTIONS } from './extensions.js';
import { ALLOWED_METHODS } from './in-dialog.js';
import { transferCall, type TransferOptions, type TransferOutcome } from './transfer.js';
import { handleBridgedUserInvite, handleInboundInvite, handleUserInvite, type InboundDeps } from './inbound-call.js';
import { InboundAuth } from './inbound-auth.js';
import { closeOrphanedCalls } from './orphans.js';
import { OutboundDialer } from './outbound-dialer.js';
import type { MediaService } from '../../media/media-service.js';
import type { Store } from '../store/store.js';
import type { AgentRuntime } from '../agents/runtime/runtime.js';
import { connectInProcess, type OpenControl } from './srf-in-process.js';

interface CallControlOptions {
  /**
   * The SIP server's control connection. With `open` (the embedded server's in-process channel),
   * drachtio-srf connects through it and `host`/`port` only name the server in logs.
   */
  drachtio: { host: string; port: number; secret: string; open?: OpenControl };
  maxCalls: number;
  realm: string;
  settings: InboundDeps['settings'];
  log: Logger;
  store: Store;
  events: EventLog;
  media: MediaService;
  /** Counts calls started, answered (with setup latency) and ended by reason. */
  metrics?: CallMetrics;
  /** Runs the agents of answered calls (absent: every call echoes). */
  agents?: AgentRuntime;
  /** Answers REGISTER (absent: REGISTER gets 405 from the SIP server). */
  registrar?: Registrar;
  /** Live outbound calls one tenant may have at once, over all its trunks. */
  outboundTenantMaxCalls?: number;
  /** How long a registered user's devices ring when the engine bridges a call to them (default `USER_BRIDGE_RING_MS`). */
  userRingMs?: number;
}

/** drachtio-srf methods and events missing from its bundled typings. */
type SrfFull = Srf & {
  options(fn: (req: Srf.SrfRequest, res: Srf.SrfResponse) => void): void;
  on(event: 'connect', fn: (err: Error | null, hostport: string) => void): Srf;
  connect(opts: { host: string; port: number; secret: string; reconnect: { retryMaxDelay: number; maxAttempts: number } }): void;
};

/**
 * The longest wait between two reconnection attempts to the SIP server (drachtio-srf starts at
 * 150 ms and backs off by 1.7x with no ceiling by default): a server back after a restart is
 * found within 2 s, and a close while disconnected waits at most this long for the attempt
 * already scheduled.
 */
const RECONNECT_MAX_DELAY_MS = 2000;

/** The tenant-wide outbound cap when the engine is given none (config `sip.outboundTenantMaxCalls`). */
const DEFAULT_OUTBOUND_TENANT_MAX_CALLS = 100;

export class CallControl {
  readonly srf: SrfFull;
  /**
   * drachtio-srf's `reconnect` option, ours: it reads this object on every retry, so setting
   * `maxAttempts` on close ends its retries. (`srf.disconnect()` cannot while disconnected:
   * drachtio-srf 5.0.29 asserts on the socket it no longer has and throws.) 0 = no limit.
   */
  readonly #reconnect = { retryMaxDelay: RECONNECT_MAX_DELAY_MS, maxAttempts: 0 };
  readonly #calls = new Map<string, Call>();
  readonly #settling = new Set<Promise<void>>();
  #accepting = true;
  #connected = false;
  #outbound: OutboundDialer | null = null;

  private constructor(private readonly opts: CallControlOptions) {
    this.srf = new Srf() as SrfFull;
  }

  /** Connects to the SIP server and starts taking calls. Closes orphaned calls first. */
  static async start(opts: CallControlOptions): Promise<CallControl> {
    const cc = new CallControl(opts);
    closeOrphanedCalls(opts.store, opts.events, opts.log);
    await cc.#connect();
    return cc;
  }

  get connected(): boolean {
    return this.#connected;
  }

  get activeCalls(): number {
    return this.#calls.size;
  }

  /** Places outbound calls (`POST /api/v1/calls`). */
  get outbound(): OutboundDialer {
    return this.#outbound!;
  }

  /** Live calls, by call id. */
  get calls(): ReadonlyMap<string, Call> {
    return this.#calls;
  }

  async #connect(): Promise<void> {
    const { srf, opts } = this;
    const log = opts.log.child({ component: 'calls' });
    const deps: InboundDeps = {
      srf,
      log,
      auth: new InboundAuth(opts.store.sipTrunks, opts.realm),
      store: opts.store,
      events: opts.events,
      media: opts.media,
      settings: opts.settings,
      ...(opts.agents ? { agents: opts.agents } : {}),
      hasRoom: () => this.#calls.size < this.opts.maxCalls,
      admit: (call) => this.#admit(call),
      settle: (work) => {
        const p = work.catch((err: unknown) => log.error({ err }, 'call record failed'));
        this.#settling.add(p);
        void p.finally(() => this.#settling.delete(p));
      },
    };
    this.#outbound = new OutboundDialer({
      ...deps,
      log: log.child({ direction: 'outbound' }),
      settings: { inactivityTimeoutMs: opts.settings.inactivityTimeoutMs },
      tenantMaxCalls: opts.outboundTenantMaxCalls ?? DEFAULT_OUTBOUND_TENANT_MAX_CALLS,
      ...(opts.registrar ? { registrar: opts.registrar } : {}),
    });
    const agentCalls: AgentCalls = (req, res, callee, callerAor) => {
      const scope = scopeOfSipDomain(callee.host);
      const route = scope && routeUserCall(opts.store, scope, callee.user, callerAor);
      if (!route) return false;
      void handleUserInvite(deps, req as Parameters<typeof handleUserInvite>[1], res, route, performance.now()).catch((err: unknown) => {
        log.error({ err }, 'call from a SIP user failed');
        if (!res.finalResponseSent) res.send(500);
      });
      return true;
    };
    const userBridges = new UserBridges(srf, opts.media, log.child({ component: 'user-bridge' }), opts.userRingMs);
    if (opts.registrar) deps.users = { registrar: opts.registrar, bridges: userBridges };
    // A user's call the engine bridges (a phone calling a browser) is a call record, direction web.
    const bridgedCalls: BridgedCalls = (req, res, callee) => {
      const scope = scopeOfSipDomain(callee.host);
      if (!scope) return void res.send(404);
      try {
        handleBridgedUserInvite(deps, req as Parameters<typeof handleBridgedUserInvite>[1], res, { tenantId: scope.tenantId, mode: scope.mode }, callee);
      } catch (err) {
        log.error({ err }, 'bridged call to a registered user failed');
        if (!res.finalResponseSent) res.send(500);
      }
    };
    const userCalls = opts.registrar ? new UserCalls(srf, opts.registrar, log.child({ component: 'user-calls' }), agentCalls, bridgedCalls) : null;
    srf.invite((req, res) => {
      const receivedAt = performance.now();
      if (!this.#accepting) {
        res.send(503, { headers: { 'Retry-After': '30' } });
        return;
      }
      // A call to a tenant's registered SIP user is proxied to its devices, not answered here.
      const callee = userCalls?.aorOf(req);
      if (userCalls && callee) {
        try {
          userCalls.handle(req, res, callee);
        } catch (err) {
          log.error({ err }, 'call to a registered user failed');
          if (!res.finalResponseSent) res.send(500);
        }
        return;
      }
      void handleInboundInvite(deps, req as Parameters<typeof handleInboundInvite>[1], res, receivedAt).catch((err: unknown) => {
        log.error({ err }, 'inbound invite failed');
        if (!res.finalResponseSent) res.send(500);
      });
    });
    opts.registrar?.listen(srf);
    // RFC 3261 §11.2: OPTIONS outside a dialog is answered as an INVITE would be, here 200.
    srf.options((_req, res) => {
      res.send(this.#accepting ? 200 : 503, {
        headers: { Allow: ALLOWED_METHODS, Accept: 'application/sdp', Supported: SUPPORTED_OPTIONS.join(', ') },
      });
    });
    srf.on('error', (err: Error) => log.warn({ err: err.message }, 'drachtio connection error'));
    // drachtio-srf reconnects by itself (with backoff) and registers its routes again.
    srf.on('close' as 'disconnect', () => {
      if (this.#connected) log.warn('drachtio connection lost, reconnecting');
      this.#connected = false;
    });
    await new Promise<void>((resolve, reject) => {
      srf.on('connect', (err, hostport) => {
        if (err) return reject(err);
        // A retry scheduled before close() may still land: hang up at once.
        if (!this.#accepting) {
          srf.disconnect();
          return;
        }
        this.#connected = true;
        log.info({ hostport }, 'call control connected to the SIP server');
        resolve();
      });
      const { open, ...tcp } = opts.drachtio;
      if (open) connectInProcess(srf, { secret: tcp.secret, reconnect: this.#reconnect }, open);
      else srf.connect({ ...tcp, reconnect: this.#reconnect });
    });
  }

  #admit(call: Call): void {
    this.#calls.set(call.id, call);
    this.opts.metrics?.track(call);
    call.once('ended', () => this.#calls.delete(call.id));
  }

  /** Ends one live call from outside (API, agent). */
  hangup(callId: string, reason: 'api_hangup' | 'agent_hangup' = 'api_hangup'): boolean {
    const call = this.#calls.get(callId);
    if (!call) return false;
    return call.end({ reason, hangupBy: reason === 'agent_hangup' ? 'agent' : 'system' });
  }

  /**
   * Blind-transfers a live answered call (REFER, or a bridge to the target when REFER is refused;
   * see transfer.ts). Never throws: the outcome says what happened.
   */
  transfer(call: Call, target: string, opts?: TransferOptions): Promise<TransferOutcome> {
    return transferCall({ srf: this.srf, store: this.opts.store, events: this.opts.events, media: this.opts.media, ...(this.opts.registrar ? { registrar: this.opts.registrar } : {}) }, call, target, opts);
  }

  /** Stops taking calls, ends live ones with BYE, and disconnects. */
  async close(): Promise<void> {
    this.#accepting = false;
    // Queued outbound calls end first (nothing may stay queued), then every dialled or live call.
    this.#outbound?.close();
    const live = [...this.#calls.values()];
    for (const call of live) call.end({ reason: 'shutdown', hangupBy: 'system' });
    await Promise.all(this.#settling);
    // Let the BYEs reach the SIP server before the control connection closes.
    if (live.length) await new Promise((r) => setTimeout(r, 100));
    // One more failed attempt (at most the one already scheduled) and drachtio-srf stops.
    this.#reconnect.maxAttempts = 1;
    if (this.#connected) this.srf.disconnect();
    this.#connected = false;
  }
}
