/** Settings of the SIP stack, and how they come from the engine's config (`sip.*`). */
import fs from 'node:fs';
import net from 'node:net';
import type { Config } from '../../config/schema.js';
import type { AbuseOptions } from './abuse/source-guard.js';
import { DEFAULT_LIMITS, type ParseLimits } from './message/parser.js';
import type { TimerConfig } from './transaction/timers.js';
import type { SipProtocol } from './transport/types.js';

export interface SipStackOptions {
  /** Listen address of every transport. */
  host: string;
  /** UDP and TCP port (the same number for both; 0: one free port chosen for both). */
  port: number;
  transports: SipProtocol[];
  /** TLS port (0: any free port). */
  tlsPort: number;
  /** PEM certificate and key: TLS listens only when they are given. */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer; rejectUnauthorized?: boolean };
  /** Host written in Via and Contact (an IPv6 address in brackets). */
  publicHost: string;
  timers: TimerConfig;
  limits: ParseLimits;
  /** `always` adds rport to every received request's Via, as drachtio-server does (see TransportLayer). */
  rport: 'requested' | 'always';
  /**
   * When an INVITE server transaction sends 100 Trying by itself: after this many ms without a
   * response from above (§17.2.1 says 200), or null when the layer above sends it.
   */
  tryingMs: number | null;
  /** Answer a cancelled INVITE with 487 at once (§9.2 "SHOULD"), as drachtio-server does. */
  answerCancelledInvite: boolean;
  /** Answer requests with a To tag that match no dialog with 481 (§12.2.2 "SHOULD"). */
  rejectUnknownDialog: boolean;
  /** Stream connections: closed after this long idle. */
  connectionIdleMs: number;
  /** Stream connections: closed when a message stays incomplete this long (slowloris). */
  partialMessageMs: number;
  connectTimeoutMs: number;
  maxConnections: number;
  /** Stream connections: closed when this many bytes wait for a peer that does not read. */
  maxWriteBuffer: number;
  /** Per-source rate limits, failed-auth tarpit and ban list (see SourceGuard); absent: none. */
  abuse?: AbuseOptions;
}

/** `publicHost` for a listen address: the configured one, else the host (127.0.0.1 for a wildcard). */
function publicHostFor(host: string, configured?: string): string {
  const h = configured ?? (host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host);
  return net.isIPv6(h) ? `[${h}]` : h;
}

/** Defaults for the options the config does not carry. */
const STACK_DEFAULTS = {
  limits: DEFAULT_LIMITS,
  rport: 'requested',
  tryingMs: 200,
  answerCancelledInvite: true,
  rejectUnknownDialog: true,
  connectionIdleMs: 5 * 60_000,
  partialMessageMs: 30_000,
  connectTimeoutMs: 10_000,
  maxConnections: 10_000,
  maxWriteBuffer: 1024 * 1024,
} as const satisfies Partial<SipStackOptions>;

/** Options from `config.sip`; reads the TLS files when TLS is configured. */
export function stackOptionsFromConfig(sip: Config['sip']): SipStackOptions {
  const tls =
    sip.transports.includes('tls') && sip.tlsCertFile && sip.tlsKeyFile
      ? { cert: fs.readFileSync(sip.tlsCertFile), key: fs.readFileSync(sip.tlsKeyFile) }
      : undefined;
  return {
    ...STACK_DEFAULTS,
    host: sip.host,
    port: sip.port,
    transports: tls ? sip.transports : sip.transports.filter((t) => t !== 'tls'),
    tlsPort: sip.tlsPort,
    ...(tls ? { tls } : {}),
    publicHost: publicHostFor(sip.host, sip.publicHost),
    timers: { t1: sip.t1Ms, t2: sip.t2Ms, t4: sip.t4Ms },
    limits: { ...DEFAULT_LIMITS, maxBodyBytes: sip.maxBodyBytes },
    connectionIdleMs: sip.connectionIdleMs,
    ...(sip.abuseProtection ? { abuse: abuseOptionsFromConfig(sip) } : {}),
  };
}

/** The `sip.abuse*` settings as the guard's options. */
export function abuseOptionsFromConfig(sip: Config['sip']): AbuseOptions {
  return {
    requests: { rate: sip.abuseRequestRate, burst: sip.abuseRequestBurst },
    dialogRequests: { rate: sip.abuseDialogRequestRate, burst: sip.abuseDialogRequestBurst },
    failureWindowMs: sip.abuseFailureWindowMs,
    tarpitAfter: sip.abuseTarpitAfter,
    tarpitMs: sip.abuseTarpitMs,
    tarpitMaxMs: sip.abuseTarpitMaxMs,
    banAfter: sip.abuseBanAfter,
    challengeBanAfter: sip.abuseChallengeBanAfter,
    banMs: sip.abuseBanMs,
    maxSources: sip.abuseMaxSources,
    exempt: sip.abuseExempt,
  };
}
