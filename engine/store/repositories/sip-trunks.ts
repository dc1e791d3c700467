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
import { newId, nowIso } from '../ids.js';
import type { Mode } from './api-keys.js';
import { definedOnly, ScopedTable, type Page, type Scope, type TimeRange } from './scoped.js';

export type SipTransport = 'udp' | 'tcp' | 'tls';

export interface TrunkCredentials {
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
  created_at: string;
  updated_at: string;
}

const toTrunk = (r: Row): SipTrunk => ({
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
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toRow = (t: SipTrunk): Row => ({
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
  created_at: t.createdAt,
  updated_at: t.updatedAt,
});

export type TrunkInput = Pick<SipTrunk, 'name'> &
  Partial<Pick<SipTrunk, 'inbound' | 'outbound' | 'callerId' | 'prefixRules' | 'cpsLimit'>>;

export class SipTrunksRepo {
  readonly #table;
  readonly #insert;
  readonly #update;
  readonly #getById;
  readonly #withAllowlist;
  readonly #byInboundUser;

  constructor(db: Db) {
    this.#table = new ScopedTable<Row>(db, 'sip_trunks');
    const cols = Object.keys(toRow(blank));
    this.#insert = db.prepare<[Row]>(`INSERT INTO sip_trunks (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`);
    const set = cols.filter((c) => !['id', 'tenant_id', 'mode', 'created_at'].includes(c));
    this.#update = db.prepare<[Row]>(
      `UPDATE sip_trunks SET ${set.map((c) => `${c} = @${c}`).join(', ')} WHERE id = @id AND tenant_id = @tenant_id AND mode = @mode`,
    );
    this.#getById = db.prepare<[string], Row>('SELECT * FROM sip_trunks WHERE id = ?');
    this.#withAllowlist = db.prepare<[], Row>("SELECT * FROM sip_trunks WHERE inbound_allowlist <> '[]' ORDER BY created_at, id");
    this.#byInboundUser = db.prepare<[string], Row>('SELECT * FROM sip_trunks WHERE inbound_username = ? ORDER BY created_at, id');
  }

  create(scope: Scope, input: TrunkInput): SipTrunk {
    const now = nowIso();
    const t: SipTrunk = { ...blank, ...definedOnly(input), id: newId(), tenantId: scope.tenantId, mode: scope.mode, createdAt: now, updatedAt: now };
    this.#insert.run(toRow(t));
    return t;
  }

  get(scope: Scope, id: string): SipTrunk | undefined {
    const r = this.#table.get(scope, id);
    return r && toTrunk(r);
  }

  /** Any tenant's trunk, for call control (a phone number or an outbound call names its trunk). */
  getById(id: string): SipTrunk | undefined {
    const r = this.#getById.get(id);
    return r && toTrunk(r);
  }

  list(scope: Scope, filters: TimeRange, limit: number, offset: number): Page<SipTrunk> {
    const { rows, total } = this.#table.page(scope, filters, limit, offset);
    return { items: rows.map(toTrunk), total };
  }

  /** Replaces the given fields (whole `inbound`/`outbound` objects). */
  update(scope: Scope, id: string, patch: Partial<TrunkInput>): SipTrunk | undefined {
    const cur = this.get(scope, id);
    if (!cur) return undefined;
    const next: SipTrunk = { ...cur, ...definedOnly(patch), updatedAt: nowIso() };
    this.#update.run(toRow(next));
    return next;
  }

  delete(scope: Scope, id: string): boolean {
    return this.#table.delete(scope, id);
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
    for (const r of this.#withAllowlist.all()) {
      const allow = JSON.parse(r.inbound_allowlist) as string[];
      let best = -1;
      for (const entry of allow) {
        const cidr = parseCidr(entry);
        if (cidr && cidr.prefix > best && cidrContains(cidr, addr)) best = cidr.prefix;
      }
      if (best >= 0) hits.push({ trunk: toTrunk(r), prefix: best });
    }
    return hits.sort((a, b) => b.prefix - a.prefix).map((h) => h.trunk);
  }

  /** The trunk an inbound INVITE from `ip` belongs to (most specific allowlist match), if any. */
  findByInboundIp(ip: string): SipTrunk | undefined {
    return this.matchInboundIp(ip)[0];
  }

  /** Trunks whose inbound digest username is `username` (a challenged INVITE names it). */
  findByInboundUsername(username: string): SipTrunk[] {
    return this.#byInboundUser.all(username).map(toTrunk);
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

/** A trunk with every optional part empty: the base that inputs fill in. */
const blank: SipTrunk = {
  id: '',
  tenantId: '',
  mode: 'live',
  name: '',
  inbound: { allowlist: [], username: null, password: null },
  outbound: null,
  callerId: null,
  prefixRules: {},
  cpsLimit: null,
  createdAt: '',
  updatedAt: '',
};
