/**
 * SIP trunks: a carrier's inbound side (source allowlist and/or digest credentials) and
 * outbound side (gateway, credentials, caller id, number rewriting, calls-per-second cap).
 *
 * Digest passwords are stored as given: answering a carrier's challenge on outbound calls needs
 * the password itself (the realm is the carrier's, so a pre-hashed HA1 cannot be made in
 * advance). The API never returns them.
 */
import { parseCidr, parseIp, cidrContains } from '../../../lib/cidr.js';
import { prefixRulesSchema, type PrefixRules } from '../../calls/prefix-rules.js';
import type { Db } from '../database.js';
import type { Mode } from '../mode.js';
import type { Scope } from './scoped.js';
import { ScopedRepo, type RowMapping } from './scoped-repo.js';

export type SipTransport = 'udp' | 'tcp' | 'tls';

interface TrunkCredentials {
  username: string;
  password: string;
}

export interface TrunkInbound {
  /** IPs and CIDRs (IPv4 and IPv6) calls may come from. */
  allowlist: string[];
  username: string | null;
  password: string | null;
}

export interface TrunkOutbound {
  host: string;
  port: number;
  transport: SipTransport;
  username: string | null;
  password: string | null;
}

export interface SipTrunk {
  id: string;
  tenantId: string;
  mode: Mode;
  name: string;
  inbound: TrunkInbound;
  outbound: TrunkOutbound | null;
  callerId: string | null;
  prefixRules: PrefixRules;
  cpsLimit: number | null;
  /** Live outbound calls (dialling or answered) the trunk carries at once; null = no cap of its own. */
  maxConcurrentCalls: number | null;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: string;
  tenant_id: string;
  mode: Mode;
  name: string;
  inbound_allowlist: string;
  inbound_username: string | null;
  inbound_password: string | null;
  outbound_host: string | null;
  outbound_port: number | null;
  outbound_transport: SipTransport | null;
  outbound_username: string | null;
  outbound_password: string | null;
  caller_id: string | null;
  prefix_rules: string;
  cps_limit: number | null;
  max_concurrent_calls: number | null;
  created_at: string;
  updated_at: string;
}

const mapping: RowMapping<SipTrunk, Row> = {
  columns: [
    'id', 'tenant_id', 'mode', 'name', 'inbound_allowlist', 'inbound_username', 'inbound_password', 'outbound_host',
    'outbound_port', 'outbound_transport', 'outbound_username', 'outbound_password', 'caller_id', 'prefix_rules',
    'cps_limit', 'max_concurrent_calls', 'created_at', 'updated_at',
  ],
  toObject: (r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    mode: r.mode,
    name: r.name,
    inbound: { allowlist: JSON.parse(r.inbound_allowlist) as string[], username: r.inbound_username, password: r.inbound_password },
    outbound:
      r.outbound_host === null
        ? null
        : {
            host: r.outbound_host,
            port: r.outbound_port ?? 5060,
            transport: r.outbound_transport ?? 'udp',
            username: r.outbound_username,
            password: r.outbound_password,
          },
    callerId: r.caller_id,
    prefixRules: prefixRulesSchema.parse(JSON.parse(r.prefix_rules)),
    cpsLimit: r.cps_limit,
    maxConcurrentCalls: r.max_concurrent_calls,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }),
  toRow: (t) => ({
    id: t.id,
    tenant_id: t.tenantId,
    mode: t.mode,
    name: t.name,
    inbound_allowlist: JSON.stringify(t.inbound.allowlist),
    inbound_username: t.inbound.username,
    inbound_password: t.inbound.password,
    outbound_host: t.outbound?.host ?? null,
    outbound_port: t.outbound?.port ?? null,
    outbound_transport: t.outbound?.transport ?? null,
    outbound_username: t.outbound?.username ?? null,
    outbound_password: t.outbound?.password ?? null,
    caller_id: t.callerId,
    prefix_rules: JSON.stringify(t.prefixRules),
    cps_limit: t.cpsLimit,
    max_concurrent_calls: t.maxConcurrentCalls,
    created_at: t.createdAt,
    updated_at: t.updatedAt,
  }),
};

type TrunkInput = Pick<SipTrunk, 'name'> &
  Partial<Pick<SipTrunk, 'inbound' | 'outbound' | 'callerId' | 'prefixRules' | 'cpsLimit' | 'maxConcurrentCalls'>>;

/** A trunk with an allowlist, its entries parsed once (see `#allowlists`). */
interface AllowlistTrunk {
  trunk: SipTrunk;
  cidrs: NonNullable<ReturnType<typeof parseCidr>>[];
}

export class SipTrunksRepo extends ScopedRepo<SipTrunk, Row, TrunkInput> {
  readonly #withAllowlist;
  readonly #version;
  /**
   * The trunks with an allowlist, parsed, as of a version of the table (migration 0005: bumped by
   * triggers on every write, whoever writes): every INVITE is matched against them, and reading
   * and parsing every trunk per INVITE grows with the installation's trunks.
   */
  #allowlists: { version: number; trunks: AllowlistTrunk[] } | null = null;
  readonly #byInboundUser;
  readonly #anyCredentials;

  constructor(db: Db) {
    super(db, 'sip_trunks', mapping);
    this.#withAllowlist = db.prepare<[], Row>("SELECT * FROM sip_trunks WHERE inbound_allowlist <> '[]' ORDER BY created_at, id");
    this.#version = db.prepare<[], { version: number }>("SELECT version FROM table_versions WHERE name = 'sip_trunks'");
    this.#byInboundUser = db.prepare<[string], Row>('SELECT * FROM sip_trunks WHERE inbound_username = ? ORDER BY created_at, id');
    this.#anyCredentials = db.prepare<[], { n: number }>(
      'SELECT COUNT(*) AS n FROM (SELECT 1 FROM sip_trunks WHERE inbound_username IS NOT NULL AND inbound_password IS NOT NULL LIMIT 1)',
    );
  }

  create(scope: Scope, input: TrunkInput): SipTrunk {
    return this.insert(scope, {
      name: input.name,
      inbound: input.inbound ?? { allowlist: [], username: null, password: null },
      outbound: input.outbound ?? null,
      callerId: input.callerId ?? null,
      prefixRules: input.prefixRules ?? {},
      cpsLimit: input.cpsLimit ?? null,
      maxConcurrentCalls: input.maxConcurrentCalls ?? null,
    });
  }

  /**
   * Every trunk, of any tenant, whose inbound allowlist admits `ip`, the most specific entry
   * first (a /32 before a /24), then the oldest trunk. Call control narrows a tie with the
   * dialled number's trunk. IPv4-mapped IPv6 (`::ffff:192.0.2.1`) matches IPv4 entries.
   */
  matchInboundIp(ip: string): SipTrunk[] {
    const addr = parseIp(ip);
    if (!addr) return [];
    const hits: { trunk: SipTrunk; prefix: number }[] = [];
    for (const { trunk, cidrs } of this.#allowlistTrunks()) {
      let best = -1;
      for (const cidr of cidrs) if (cidr.prefix > best && cidrContains(cidr, addr)) best = cidr.prefix;
      if (best >= 0) hits.push({ trunk, prefix: best });
    }
    return hits.sort((a, b) => b.prefix - a.prefix).map((h) => h.trunk);
  }

  #allowlistTrunks(): AllowlistTrunk[] {
    const version = this.#version.get()!.version;
    if (this.#allowlists?.version !== version) {
      const trunks = this.#withAllowlist.all().map((r) => ({
        trunk: mapping.toObject(r),
        cidrs: (JSON.parse(r.inbound_allowlist) as string[]).flatMap((e) => parseCidr(e) ?? []),
      }));
      this.#allowlists = { version, trunks };
    }
    return this.#allowlists.trunks;
  }

  /** The trunk an inbound INVITE from `ip` belongs to (most specific allowlist match), if any. */
  findByInboundIp(ip: string): SipTrunk | undefined {
    return this.matchInboundIp(ip)[0];
  }

  /** Trunks whose inbound digest username is `username` (a challenged INVITE names it). */
  findByInboundUsername(username: string): SipTrunk[] {
    return this.#byInboundUser.all(username).map(mapping.toObject);
  }

  /** Whether any trunk authenticates inbound calls by digest (else unknown sources get 403 at once). */
  hasInboundCredentials(): boolean {
    return this.#anyCredentials.get()!.n > 0;
  }

  /** The digest credentials inbound INVITEs must answer a challenge with; undefined when none. */
  inboundCredentials(trunkId: string): TrunkCredentials | undefined {
    const t = this.getById(trunkId);
    return t?.inbound.username && t.inbound.password ? { username: t.inbound.username, password: t.inbound.password } : undefined;
  }

  /** The credentials for answering the carrier's challenge on outbound calls; undefined when none. */
  outboundCredentials(trunkId: string): TrunkCredentials | undefined {
    const o = this.getById(trunkId)?.outbound;
    return o?.username && o.password ? { username: o.username, password: o.password } : undefined;
  }
}
