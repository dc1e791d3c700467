/**
 * Every setting of the engine, in one zod schema. Values come from an optional JSON file and from
 * `AS_*` environment variables (see `load.ts`); this file only says what is valid.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { parseCidr } from '../lib/cidr.js';

/** Env values arrive as strings: turn "42" into 42 before the number check. */
const num = (schema: z.ZodNumber) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v), schema);

const bool = () =>
  z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    if (/^(1|true|yes|on)$/i.test(v)) return true;
    if (/^(0|false|no|off)$/i.test(v)) return false;
    return v;
  }, z.boolean());

/** "udp,tcp" from env, or a JSON array from the file. */
const list = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
    z.array(item),
  );

const port = (def: number) => num(z.number().int().min(0).max(65535)).default(def);
const host = (def: string) => z.string().min(1).default(def);

const ipAddress = z.union([z.ipv4(), z.ipv6()]);

/** A JSON value from env (`AS_WEB_CALLS_ICE_SERVERS='[{"urls":"stun:…"}]'`), or the file's value as is. */
const jsonValue = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return v;
    }
  }, schema);

/** One RTCIceServer (W3C WebRTC §4.2.1) as the browser takes it. */
export const iceServerSchema = z
  .strictObject({
    urls: z.union([z.string().regex(/^(stun|stuns|turn|turns):/, 'must be a stun:, stuns:, turn: or turns: URL'), z.array(z.string().regex(/^(stun|stuns|turn|turns):/, 'must be a stun:, stuns:, turn: or turns: URL')).min(1).max(8)]),
    username: z.string().max(512).optional(),
    credential: z.string().max(512).optional(),
  })
  .meta({ id: 'IceServer', description: 'An RTCIceServer: STUN or TURN URL(s) and, for TURN, its credentials' });

export const configSchema = z
  .object({
    /** Deployment label, shown in health; `production` switches logs to plain JSON. */
    env: z.enum(['development', 'production', 'test']).default('development'),
    http: z
      .strictObject({
        host: host('0.0.0.0'),
        port: port(8000),
        /** Largest accepted request body; larger ones get 413 in the error envelope. */
        maxBodyBytes: num(z.number().int().min(1024).max(64 * 1024 * 1024)).default(1024 * 1024),
        /**
         * PEM certificate (chain) and key files: the listener then speaks HTTPS and WSS only (the
         * REST API, the real-time WebSocket and SSE, SIP over WebSocket). Both or neither.
         */
        tlsCertFile: z.string().min(1).optional(),
        tlsKeyFile: z.string().min(1).optional(),
      })
      .prefault({}),
    sip: z
      .strictObject({
        /**
         * `embedded`: the SIP server on the engine's event loop. `thread`: the same server in a
         * worker thread of the engine process, so SIP parsing and transactions run beside call
         * control rather than on its loop (the higher call rate on two cores or more).
         * `external`: connect to drachtio-server(s).
         */
        server: z.enum(['embedded', 'thread', 'external']).default('embedded'),
        host: host('0.0.0.0'),
        port: port(5060),
        /** Address put in Via/Contact; defaults to the listen host (or 127.0.0.1 for 0.0.0.0). */
        publicHost: z.string().min(1).optional(),
        /** `ws`: SIP over WebSocket (RFC 7118) on the HTTP port at `wsPath` (embedded and thread modes). */
        transports: list(z.enum(['udp', 'tcp', 'tls', 'ws'])).default(['udp', 'tcp', 'ws']),
        tlsPort: port(5061),
        tlsCertFile: z.string().min(1).optional(),
        tlsKeyFile: z.string().min(1).optional(),
        /** Largest SIP message body accepted; a larger one is refused (400 or the connection closed). */
        maxBodyBytes: num(z.number().int().min(0).max(16 * 1024 * 1024)).default(64 * 1024),
        /** SIP over TCP/TLS: a connection idle this long is closed. */
        connectionIdleMs: num(z.number().int().min(1000)).default(300_000),
        /** SIP over WebSocket: the HTTP path of the upgrade (subprotocol `sip`). */
        wsPath: z.string().regex(/^\/[A-Za-z0-9._~/-]*$/, 'must be an absolute URL path').default('/sip'),
        /** SIP over WebSocket: open connections at most; more upgrades are refused with 503. */
        wsMaxConnections: num(z.number().int().min(1).max(65_535)).default(5000),
        /** SIP over WebSocket: largest message (one SIP message); a larger one drops its connection. */
        wsMaxMessageBytes: num(z.number().int().min(1024).max(16 * 1024 * 1024)).default(128 * 1024),
        /**
         * SIP over WebSocket: seconds without any frame before a connection is closed. The server
         * pings well before, so only peers that stopped answering go. uWebSockets.js needs at least 8.
         */
        wsIdleTimeoutSeconds: num(z.number().int().min(8).max(3600)).default(120),
        /** RFC 3261 §17.1.1.1 timer values, in ms. Tests shorten them. */
        t1Ms: num(z.number().int().min(1).max(60_000)).default(500),
        t2Ms: num(z.number().int().min(1).max(120_000)).default(4000),
        t4Ms: num(z.number().int().min(1).max(120_000)).default(5000),
        /** drachtio control (wire protocol) endpoint: served when embedded, dialled when external. */
        drachtioHost: host('127.0.0.1'),
        drachtioPort: port(9022),
        drachtioSecret: z.string().min(1).default('agent-studio'),
        /**
         * How call control reaches the SIP server in `embedded` mode. `in-process`: a socket pair
         * in memory (the same wire protocol and framing, no loopback TCP). `tcp`: the control
         * port, as `thread` and `external` always do. The control port listens in both.
         */
        drachtioChannel: z.enum(['in-process', 'tcp']).default('in-process'),
        /** Concurrent calls before new INVITEs get 503 + Retry-After. */
        maxCalls: num(z.number().int().min(1)).default(1000),
        /**
         * Live outbound calls (dialling or answered) one tenant may have at once, over all its
         * trunks; more wait in their trunk's queue. A guard against runaway spending.
         */
        outboundTenantMaxCalls: num(z.number().int().min(1).max(100_000)).default(100),
        /** Send 180 Ringing and wait this long before answering; 0 answers at once. */
        ringMs: num(z.number().int().min(0).max(60_000)).default(0),
        /**
         * How long a registered SIP user's devices ring when the engine bridges a call to them (a
         * trunk's call to a number that rings the user, a phone calling a browser user) before the
         * caller gets 480 and the call ends `no_answer`.
         */
        userRingMs: num(z.number().int().min(100).max(600_000)).default(60_000),
        /** RFC 4028 session interval we ask for when the caller supports timers. */
        sessionExpiresSeconds: num(z.number().int().min(1)).default(1800),
        /** RFC 4028 Min-SE: shorter intervals get 422. The RFC's floor is 90; tests lower it. */
        minSessionExpiresSeconds: num(z.number().int().min(1)).default(90),
        /**
         * Registrar (REGISTER from the tenant's SIP users), RFC 3261 §10.3 step 6: the expiry
         * when a REGISTER asks none, the shortest granted (a shorter non-zero one gets 423 with
         * Min-Expires), and the longest (a longer one is shortened).
         */
        registerDefaultExpiresSeconds: num(z.number().int().min(1)).default(3600),
        registerMinExpiresSeconds: num(z.number().int().min(1)).default(60),
        registerMaxExpiresSeconds: num(z.number().int().min(1)).default(3600),
        /** Realm of digest challenges to trunks with credentials and to SIP users registering. */
        realm: z.string().min(1).default('agent-studio'),
        /**
         * Per-source protection of the embedded SIP server (embedded and thread modes; an
         * external drachtio-server has its own): request rate limits, failed-authentication
         * tarpit and an expiring ban list. Counters are in the `sip` health component.
         */
        abuseProtection: bool().default(true),
        /**
         * Out-of-dialog requests (INVITE, REGISTER, OPTIONS...) per second per source; more are
         * dropped. Above the engine's own call rate (about 325/s on 2 cores), so one carrier's
         * SBC may use all of it.
         */
        abuseRequestRate: num(z.number().positive()).default(500),
        /** Out-of-dialog requests a quiet source may send at once (a carrier's burst). */
        abuseRequestBurst: num(z.number().int().min(1)).default(1000),
        /** Requests with a To tag (in-dialog, ACK) per second per source: a separate budget, so a flood never cuts live calls. */
        abuseDialogRequestRate: num(z.number().positive()).default(1000),
        abuseDialogRequestBurst: num(z.number().int().min(1)).default(2000),
        /** Failed authentications (403; 401/407 answering credentials) are counted over this window. */
        abuseFailureWindowMs: num(z.number().int().min(1000)).default(600_000),
        /** Failures before each further failure answer is delayed (the tarpit). */
        abuseTarpitAfter: num(z.number().int().min(1)).default(3),
        /** First tarpit delay; it doubles with each failure up to abuseTarpitMaxMs (below 32 s, a UAC's Timer B). */
        abuseTarpitMs: num(z.number().int().min(0).max(30_000)).default(500),
        abuseTarpitMaxMs: num(z.number().int().min(0).max(30_000)).default(4000),
        /** Failures in the window that ban the source: its datagrams dropped, its connections refused. */
        abuseBanAfter: num(z.number().int().min(1)).default(10),
        /**
         * Digest challenges (401/407 to requests without credentials) a source may pile up in the
         * window without once authenticating before it is banned: a scanner or a challenge flood.
         * A carrier that authenticates clears its count with every call.
         */
        abuseChallengeBanAfter: num(z.number().int().min(1)).default(50),
        /** How long a ban lasts. */
        abuseBanMs: num(z.number().int().min(1000)).default(600_000),
        /** Sources (and bans) remembered at most, least recently seen forgotten first: bounds memory under spoofed floods. */
        abuseMaxSources: num(z.number().int().min(100)).default(10_000),
        /** Addresses or CIDR blocks never tarpitted or banned (your own proxies); still rate limited. */
        abuseExempt: list(z.string().refine((v) => parseCidr(v) !== null, 'must be an IP address or CIDR block')).default([]),
      })
      .prefault({}),
    rtp: z
      .strictObject({
        /** Local address the media sockets bind to. */
        listenIp: ipAddress.default('0.0.0.0'),
        /** Address written into SDP; required in practice when listenIp is 0.0.0.0 behind NAT. */
        announcedIp: ipAddress.optional(),
        minPort: port(40000),
        maxPort: port(49999),
        /** A call with no RTP from the caller for this long is ended (a vanished peer). */
        inactivityTimeoutMs: num(z.number().int().min(100)).default(60_000),
      })
      .prefault({}),
    database: z
      .strictObject({
        path: z.string().min(1).default(path.join('data', 'agent-studio.db')),
      })
      .prefault({}),
    recordings: z
      .strictObject({
        /**
         * Where call recordings (agents with `recording: true`) are written, one WAV file per call
         * named by the call id. Default: `recordings/` beside the database file.
         */
        dir: z.string().min(1).optional(),
      })
      .prefault({}),
    audioFiles: z
      .strictObject({
        /**
         * Where uploaded audio files (workflow `play` nodes) are kept, one 8 kHz mono WAV per file
         * named by its id. Default: `audio-files/` beside the database file.
         */
        dir: z.string().min(1).optional(),
        /** Longest audio file accepted, ms (10 minutes: announcements and hold music, not albums). */
        maxDurationMs: num(z.number().int().min(1000).max(3_600_000)).default(600_000),
      })
      .prefault({}),
    auth: z
      .strictObject({
        /**
         * HS256 secret. With neither this nor the key-file pair, a random secret is generated on
         * first start and kept beside the database (`jwt-secret`, mode 0600).
         */
        jwtSecret: z.string().min(32, 'must be at least 32 characters').optional(),
        jwtPrivateKeyFile: z.string().min(1).optional(),
        jwtPublicKeyFile: z.string().min(1).optional(),
        jwtIssuer: z.string().min(1).default('agent-studio'),
        jwtAudience: z.string().min(1).default('agent-studio-api'),
        accessTokenTtlSeconds: num(z.number().int().min(30)).default(900),
        refreshTokenTtlSeconds: num(z.number().int().min(60)).default(30 * 24 * 3600),
      })
      .prefault({}),
    media: z
      .strictObject({
        /** mediasoup workers; one per core by default. */
        workers: num(z.number().int().min(1).max(64)).default(os.availableParallelism()),
        /** Worker binary; defaults to MEDIASOUP_WORKER_BIN, then the build script's cache. */
        workerBin: z.string().min(1).optional(),
        logLevel: z.enum(['debug', 'warn', 'error', 'none']).default('warn'),
        /** Pause before replacing a dead worker, so a crash loop cannot spin the CPU. */
        respawnDelayMs: num(z.number().int().min(0).max(60_000)).default(100),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
        /** Human-readable output; defaults to on when stdout is a terminal. */
        pretty: bool().optional(),
      })
      .prefault({}),
    bootstrap: z
      .strictObject({
        /** On first start with an empty database, create this tenant and its owner. */
        tenantName: z.string().min(1).optional(),
        ownerEmail: z.email().optional(),
        ownerPassword: z.string().min(12, 'must be at least 12 characters').optional(),
      })
      .prefault({}),
    realtime: z
      .strictObject({
        /** An SSE comment line this often, so clients and proxies see an idle stream alive (and revoked callers are cut off). */
        heartbeatMs: num(z.number().int().min(50).max(300_000)).default(15_000),
        /**
         * Bytes an SSE or WebSocket client may leave unread before it is dropped (with a log line);
         * it reconnects and resumes from its last event id, so nothing is lost.
         */
        maxBufferedBytes: num(z.number().int().min(1024).max(256 * 1024 * 1024)).default(1024 * 1024),
        /** Live events held for one client while it replays history; past this it is dropped the same way. */
        maxPendingEvents: num(z.number().int().min(10).max(1_000_000)).default(10_000),
        /** Lifetime of a single-use SSE ticket (`POST /api/v1/events/tickets`). */
        ticketTtlSeconds: num(z.number().int().min(1).max(600)).default(60),
        /** A WebSocket that has not authenticated by then is closed with 4401. */
        wsAuthTimeoutMs: num(z.number().int().min(100).max(300_000)).default(10_000),
      })
      .prefault({}),
    /** Agents of kind `websocket` (bring your own agent): the sockets the engine opens to them. */
    /**
     * Browser calls (`POST /api/v1/calls/web`): the short-lived SIP identities it issues and what
     * a browser is told besides them.
     */
    webCalls: z
      .strictObject({
        /**
         * ICE servers handed to browsers (RTCPeerConnection `iceServers`), a JSON array of
         * `{urls, username?, credential?}`. Default none: the engine's media address is reached
         * directly (loopback, a LAN, or a public `rtp.announcedIp`).
         */
        iceServers: jsonValue(z.array(iceServerSchema).max(16)).default([]),
        /**
         * The engine's public base URL (`https://voice.example.com`), when browsers reach it through
         * a proxy: the SIP WebSocket URL is built from it. Unset: from the Host the request came to.
         */
        publicUrl: z.url({ protocol: /^https?$/ }).optional(),
        /** Unexpired web identities one tenant may hold at once (both modes); more get 429 until one expires. */
        tenantMaxIdentities: num(z.number().int().min(1).max(100_000)).default(200),
      })
      .prefault({}),
    externalAgents: z
      .strictObject({
        /** Opening an agent's socket (DNS, TCP, TLS, upgrade) must take less than this, or the call ends `agent_unreachable`. */
        connectTimeoutMs: num(z.number().int().min(100).max(60_000)).default(5000),
        /**
         * Unsent bytes to an agent before the caller's audio frames to it are dropped (an agent that
         * cannot keep up loses caller audio, never the call); 256 KiB is 16 s of PCMU.
         */
        maxBufferedBytes: num(z.number().int().min(1024).max(64 * 1024 * 1024)).default(256 * 1024),
      })
      .prefault({}),
    /**
     * Prometheus metrics. `GET /metrics` on the API listener is always there, for super-admins
     * only (the figures are installation-wide, so no tenant's key reads them). For a scraper,
     * `listen` opens a second listener that serves only `GET /metrics`, without credentials: bind
     * it to loopback or a private network (default 127.0.0.1:9464, the usual exporter port range).
     */
    metrics: z
      .strictObject({
        listen: bool().default(false),
        host: host('127.0.0.1'),
        port: port(9464),
      })
      .prefault({}),
    /**
     * Requests the engine makes to addresses a tenant gave (event and tool webhooks, external
     * agents, provider base URLs): link-local, multicast and unspecified addresses are always
     * refused; loopback and private networks only when `allowPrivateNetworks` (tenants trusted,
     * their servers on this host or network). Judged on the address connected to, after DNS.
     */
    outbound: z
      .strictObject({
        allowPrivateNetworks: bool().default(false),
      })
      .prefault({}),
    /**
     * Event webhooks (`/api/v1/webhooks`). A try that fails (network error, timeout, non-2xx) is
     * retried after `retryBaseMs`, doubling each time up to `retryMaxMs`, until `maxAttempts`
     * tries: the defaults try 8 times over about 64 minutes (30 s, 1, 2, 4, 8, 16, 32 min).
     */
    webhooks: z
      .strictObject({
        /** One try's limit for the receiver's whole answer (headers and the first KB of body). */
        timeoutMs: num(z.number().int().min(50).max(120_000)).default(10_000),
        /** Tries per delivery before it is marked failed (redelivery through the API starts a new round). */
        maxAttempts: num(z.number().int().min(1).max(50)).default(8),
        /** Wait before the first retry; each later wait doubles. */
        retryBaseMs: num(z.number().int().min(10).max(3_600_000)).default(30_000),
        /** Longest wait between two tries. */
        retryMaxMs: num(z.number().int().min(10).max(86_400_000)).default(3_600_000),
        /** Requests out at once, across all tenants (a slow receiver holds one slot until its timeout). */
        concurrency: num(z.number().int().min(1).max(256)).default(8),
        /** Finished deliveries (succeeded or failed) and their tries are deleted this many days after their last change. */
        retentionDays: num(z.number().min(0.0001).max(3650)).default(30),
      })
      .prefault({}),
    shutdown: z
      .strictObject({
        /** Hard limit for graceful shutdown before the process exits anyway. */
        timeoutMs: num(z.number().int().min(100)).default(5000),
      })
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.rtp.minPort > c.rtp.maxPort) {
      ctx.addIssue({ code: 'custom', path: ['rtp', 'minPort'], message: 'must not exceed rtp.maxPort' });
    }
    if (c.rtp.maxPort - c.rtp.minPort + 1 < c.media.workers * 2) {
      ctx.addIssue({ code: 'custom', path: ['rtp', 'maxPort'], message: 'range too small for the worker count' });
    }
    if (Boolean(c.http.tlsCertFile) !== Boolean(c.http.tlsKeyFile)) {
      ctx.addIssue({ code: 'custom', path: ['http', c.http.tlsCertFile ? 'tlsKeyFile' : 'tlsCertFile'], message: 'HTTPS needs both tlsCertFile and tlsKeyFile' });
    }
    if (c.sip.transports.includes('tls') && !(c.sip.tlsCertFile && c.sip.tlsKeyFile)) {
      ctx.addIssue({ code: 'custom', path: ['sip', 'tlsCertFile'], message: 'tls transport needs tlsCertFile and tlsKeyFile' });
    }
    if (c.sip.t1Ms > c.sip.t2Ms) {
      ctx.addIssue({ code: 'custom', path: ['sip', 't1Ms'], message: 'must not exceed sip.t2Ms' });
    }
    if (Boolean(c.auth.jwtPrivateKeyFile) !== Boolean(c.auth.jwtPublicKeyFile)) {
      ctx.addIssue({ code: 'custom', path: ['auth', 'jwtPublicKeyFile'], message: 'set both key files, or neither' });
    }
    const b = c.bootstrap;
    const set = [b.tenantName, b.ownerEmail, b.ownerPassword].filter(Boolean).length;
    if (set !== 0 && set !== 3) {
      ctx.addIssue({ code: 'custom', path: ['bootstrap'], message: 'set tenantName, ownerEmail and ownerPassword together' });
    }
  });

/** The validated settings, as the rest of the code sees them. */
export type Config = z.infer<typeof configSchema>;

/** The audio files folder: the setting, or `audio-files/` beside the database file. */
export function audioFilesDir(config: Pick<Config, 'audioFiles' | 'database'>): string {
  if (config.audioFiles.dir) return path.resolve(config.audioFiles.dir);
  // An in-memory database has no folder, and its rows die with the process: so do its files.
  if (config.database.path === ':memory:') return path.join(os.tmpdir(), `agent-studio-audio-files-${process.pid}`);
  return path.join(path.dirname(path.resolve(config.database.path)), 'audio-files');
}

/** The recordings folder: the setting, or `recordings/` beside the database file. */
export function recordingsDir(config: Pick<Config, 'recordings' | 'database'>): string {
  if (config.recordings.dir) return path.resolve(config.recordings.dir);
  // An in-memory database has no folder: its recordings go with other temporary files.
  if (config.database.path === ':memory:') return path.join(os.tmpdir(), `agent-studio-recordings-${process.pid}`);
  return path.join(path.dirname(path.resolve(config.database.path)), 'recordings');
}
