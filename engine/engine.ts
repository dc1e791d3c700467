/**
 * The engine's long-lived parts below the API, started in order and closed in reverse: the
 * database (store, event log), the media worker pool and call legs, the SIP side (the embedded
 * SIP stack with its drachtio wire-protocol server, or an external drachtio-server) and call
 * control on drachtio-srf. `close()` is idempotent.
 */
import type { Logger } from '../config/logger.js';
import { audioFilesDir, recordingsDir, type Config } from '../config/schema.js';
import { MediaService } from '../media/media-service.js';
import { WorkerPool } from '../media/worker-pool.js';
import { CallControl } from './calls/call-control.js';
import type { OpenControl } from './calls/srf-in-process.js';
import { AgentRuntime } from './agents/runtime/runtime.js';
import { AudioFiles } from './agents/audio-files.js';
import { ProviderRegistry } from './agents/providers/factory.js';
import { sendDtmf } from './calls/dtmf-out.js';
import { Recordings } from './calls/recordings.js';
import { EventLog } from './events/event-log.js';
import type { Maybe } from '../lib/maybe.js';
import { Health, type ComponentHealth } from './health/health.js';
import { EngineMetrics } from './metrics/engine-metrics.js';
import { startEmbeddedSipServer, type EmbeddedSipServer } from './sip/drachtio/embedded-server.js';
import { Registrar } from './calls/registrar/registrar.js';
import { storeSipUsers } from './calls/registrar/sip-domain.js';
import { firstLookup, WebIdentities } from './calls/registrar/web-identities.js';
import { SipThread } from './sip/sip-thread.js';
import { WsTransport, type WsGateway } from './sip/transport/ws-transport.js';
import { Checkpointer } from './store/checkpointer.js';
import { closeDatabase, currentVersion, openDatabase, type Db } from './store/database.js';
import { Store } from './store/store.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { webhookOutbox } from './webhooks/outbox.js';
import { configureOutbound } from '../lib/outbound-guard.js';

export const engineVersion = '0.1.0';

/**
 * How often the engine writes that it is alive (store.liveness): the error bound on when calls a
 * crash cut are recorded as ending. One row update a second costs nothing measurable.
 */
const heartbeatMs = 1000;

export class Engine {
  readonly health = new Health(engineVersion);
  /** Prometheus metrics (`GET /metrics`). */
  readonly metrics = new EngineMetrics();
  readonly store: Store;
  readonly events: EventLog;
  /** SIP call legs (RTP on mediasoup) over the worker pool. */
  readonly mediaService: MediaService;
  /** Call recordings: their folder, files and rows. */
  readonly recordings: Recordings;
  /** Stored audio files (workflow `play` nodes): their folder, files and cache. */
  readonly audioFiles: AudioFiles;
  /** The embedded SIP server on this event loop; null when `sip.server` is `thread` or `external`. */
  sip: EmbeddedSipServer | null = null;
  /** The embedded SIP server in a worker thread (`sip.server` = `thread`). */
  sipThread: SipThread | null = null;
  calls!: CallControl;
  /** The registrar of the tenants' SIP users (REGISTER), its bindings in memory. */
  registrar!: Registrar;
  /** Short-lived SIP identities of browsers (`POST /api/v1/calls/web`), in memory. */
  webIdentities!: WebIdentities;
  /** Sends the deliveries the event log's webhook outbox queues. */
  readonly webhooks: WebhookDispatcher;
  #providers: ProviderRegistry | null = null;
  /** WAL checkpoints in a worker thread (a file database only). */
  #checkpointer: Checkpointer | null = null;
  #heartbeat: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(
    readonly config: Config,
    readonly log: Logger,
    readonly db: Db,
    readonly media: WorkerPool,
  ) {
    this.store = new Store(db);
    configureOutbound(config.outbound);
    this.events = new EventLog(db, log.child({ component: 'events' }), config.env !== 'production', this.metrics.observeCommit);
    this.webhooks = new WebhookDispatcher(this.store, config.webhooks, log.child({ component: 'webhooks' }), `AgentStudio-Webhooks/${engineVersion}`);
    this.events.addWriter(webhookOutbox(this.store, () => this.webhooks.kick()));
    this.mediaService = new MediaService(media, config.rtp, log);
    this.recordings = new Recordings(recordingsDir(config), this.store, log.child({ component: 'recordings' }));
    this.audioFiles = new AudioFiles(audioFilesDir(config), this.store, log.child({ component: 'audio-files' }), config.audioFiles.maxDurationMs);
    const ping = db.prepare('SELECT 1');
    const schemaVersion = currentVersion(db);
    this.health.register('database', () => {
      const t0 = performance.now();
      ping.get();
      return { status: 'up', latencyMs: Math.round((performance.now() - t0) * 1000) / 1000, schemaVersion };
    });
    this.health.register('media', () => {
      const s = media.stats();
      const up = s.alive === s.expected;
      const h: ComponentHealth = { status: up ? 'up' : 'down', workers: s, legs: this.mediaService.legCount };
      if (!up) h.error = `${s.expected - s.alive} of ${s.expected} workers down`;
      return h;
    });
    this.health.register('sip', () => this.#sipHealth());
    this.metrics.attach({
      calls: () => (this.calls as CallControl | undefined)?.calls.values() ?? null,
      callControlConnected: () => Boolean((this.calls as CallControl | undefined)?.connected),
      sip: () => this.sip?.stack.metrics() ?? this.sipThread?.metrics() ?? null,
      pool: media,
      media: this.mediaService,
    });
  }

  static async start(config: Config, log: Logger): Promise<Engine> {
    const db = openDatabase(config.database.path, log);
    let engine: Engine | undefined;
    try {
      engine = new Engine(config, log, db, await WorkerPool.create(config, log));
      if (!db.memory) engine.#checkpointer = new Checkpointer(db, log.child({ component: 'store' }));
      await engine.recordings.sweep().catch((err: unknown) => log.warn({ err }, 'recordings not swept'));
      await engine.audioFiles.sweep().catch((err: unknown) => log.warn({ err }, 'audio files not swept'));
      await engine.#startSip();
      engine.#startHeartbeat();
      engine.webhooks.start();
      return engine;
    } catch (e) {
      if (engine) await engine.close();
      else closeDatabase(db);
      throw e;
    }
  }

  /**
   * Started after call control has closed the calls a previous run left open, which ends them at
   * that run's last beat: a beat of this run before then would move their end to now.
   */
  #startHeartbeat(): void {
    const beat = () => {
      try {
        this.store.liveness.beat();
      } catch (err) {
        this.log.warn({ err }, 'heartbeat not written');
      }
    };
    beat();
    this.#heartbeat = setInterval(beat, heartbeatMs);
    this.#heartbeat.unref();
  }

  async #startSip(): Promise<void> {
    const { config, log } = this;
    let drachtio: { host: string; port: number; open?: OpenControl } = { host: config.sip.drachtioHost, port: config.sip.drachtioPort };
    if (config.sip.server === 'embedded') {
      const sip = (this.sip = await startEmbeddedSipServer(config.sip, log));
      drachtio = sip.control;
      // The same wire protocol, without loopback TCP (the control port still listens).
      if (config.sip.drachtioChannel === 'in-process') drachtio = { ...sip.control, open: () => sip.drachtio.control.openInProcess() };
    } else if (config.sip.server === 'thread') {
      this.sipThread = await SipThread.start(config, log);
      const wildcard = config.sip.drachtioHost === '0.0.0.0' || config.sip.drachtioHost === '::';
      drachtio = { host: wildcard ? '127.0.0.1' : config.sip.drachtioHost, port: this.sipThread.port };
    }
    const { realm, registerDefaultExpiresSeconds, registerMinExpiresSeconds, registerMaxExpiresSeconds } = config.sip;
    // An expired identity's bindings go with it: it can no longer refresh them.
    this.webIdentities = new WebIdentities(config.webCalls.tenantMaxIdentities, (identity) => this.registrar.unbind(identity.aor));
    this.registrar = new Registrar({
      realm,
      expiry: { defaultSeconds: registerDefaultExpiresSeconds, minSeconds: registerMinExpiresSeconds, maxSeconds: registerMaxExpiresSeconds },
      lookup: firstLookup(this.webIdentities.lookup, storeSipUsers(this.store)),
      log: log.child({ component: 'registrar' }),
    });
    const providers = (this.#providers = new ProviderRegistry(this.store, log.child({ component: 'providers' })));
    this.calls = await CallControl.start({
      drachtio: { ...drachtio, secret: config.sip.drachtioSecret },
      maxCalls: config.sip.maxCalls,
      outboundTenantMaxCalls: config.sip.outboundTenantMaxCalls,
      userRingMs: config.sip.userRingMs,
      realm: config.sip.realm,
      settings: {
        ringMs: config.sip.ringMs,
        sessionExpiresSeconds: config.sip.sessionExpiresSeconds,
        minSessionExpiresSeconds: config.sip.minSessionExpiresSeconds,
        inactivityTimeoutMs: config.rtp.inactivityTimeoutMs,
      },
      log,
      store: this.store,
      events: this.events,
      media: this.mediaService,
      metrics: this.metrics.calls,
      registrar: this.registrar,
      agents: new AgentRuntime({
        store: this.store,
        events: this.events,
        log: log.child({ component: 'agents' }),
        providers: (scope) => providers.forScope(scope),
        sendDtmf: async (call, digits, audio) => void (await sendDtmf(call, digits, audio)),
        recordings: this.recordings,
        audioFiles: this.audioFiles,
        externalLimits: config.externalAgents,
        // Handed over: the caller's side took the REFER, or the engine bridges the target.
        transfer: async (call, target) => ['transferred', 'bridged'].includes((await this.calls.transfer(call, target)).result),
      }),
    });
  }

  /**
   * Where the HTTP server hands SIP WebSockets (RFC 7118): the embedded stack's WebSocket
   * transport, or the bridge to the SIP thread's; null when `ws` is not among `sip.transports`
   * or the SIP server is external.
   */
  sipWebSocket(): WsGateway | null {
    if (!this.config.sip.transports.includes('ws')) return null;
    if (this.sipThread) return this.sipThread.wsGateway;
    const t = this.sip?.stack.transport.transport('ws');
    return t instanceof WsTransport ? t : null;
  }

  /**
   * Health's `sip` component. Each object is written whole, in one shape (no spreads of
   * conditional parts): health is polled hard, and per-request shape changes cost more than the
   * check itself.
   */
  #sipHealth(): Maybe<ComponentHealth> {
    const calls = this.calls as CallControl | undefined;
    const connected = Boolean(calls?.connected);
    const callControl = connected ? 'connected' : 'disconnected';
    const activeCalls = calls?.activeCalls ?? 0;
    if (this.sipThread) {
      return this.sipThread.health().then((stack) => {
        const up = stack.status === 'up' && connected;
        const h: ComponentHealth = { ...stack, status: up ? 'up' : 'down', server: 'thread', callControl, activeCalls };
        if (!up && !stack.error) h.error = 'call control not connected';
        return h;
      });
    }
    if (!this.sip) {
      const h: ComponentHealth = {
        status: connected ? 'up' : 'down',
        server: 'external',
        drachtio: `${this.config.sip.drachtioHost}:${this.config.sip.drachtioPort}`,
        callControl,
        activeCalls,
      };
      if (!connected) h.error = 'not connected to the drachtio server';
      return h;
    }
    const stack = this.sip.stack.health();
    const up = stack.status === 'up' && connected;
    const h: ComponentHealth = {
      status: up ? 'up' : 'down',
      transports: stack['transports'],
      dialogs: stack['dialogs'],
      server: 'embedded',
      callControl,
      activeCalls,
      apps: this.sip.drachtio.stats().apps,
      ...(stack['abuse'] ? { abuse: stack['abuse'] } : {}),
    };
    if (!up) h.error = stack.error ?? 'call control not connected';
    return h;
  }

  /** Stops work in reverse order of start: calls, SIP, call legs, media workers, then the database (checkpointed). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    await (this.calls as CallControl | undefined)?.close();
    (this.registrar as Registrar | undefined)?.close();
    (this.webIdentities as WebIdentities | undefined)?.close();
    // Recordings of the calls just ended write their rows: before the database closes.
    await this.recordings.drain();
    // After the calls' last events were queued; what is still pending is sent at the next start.
    await this.webhooks.close();
    await this.sip?.close();
    await this.sipThread?.close();
    await this.#providers?.close();
    this.mediaService.close();
    this.media.close();
    await this.#checkpointer?.stop();
    closeDatabase(this.db);
    this.log.info('engine closed');
  }
}
