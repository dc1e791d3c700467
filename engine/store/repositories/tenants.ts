/** Tenants: the unit of isolation. Every other tenant-owned row points here. */
import { transactionRunner, type Db } from '../database.js';
import { json, newId, nowIso } from '../ids.js';

export interface Tenant {
  id: string;
  name: string;
  status: 'active' | 'suspended';
  settings: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: string;
  name: string;
  status: Tenant['status'];
  settings: string;
  created_at: string;
  updated_at: string;
}

const toTenant = (r: Row): Tenant => ({
  id: r.id,
  name: r.name,
  status: r.status,
  settings: json(r.settings),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class TenantsRepo {
  readonly #insert;
  readonly #get;
  readonly #list;
  readonly #count;
  readonly #update;
  readonly #delete;
  readonly #recordedCalls;
  readonly #audioFiles;
  readonly #openCalls;
  readonly #tx;

  constructor(db: Db) {
    this.#insert = db.prepare<[string, string, string, string, string, string]>(
      'INSERT INTO tenants (id, name, status, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.#get = db.prepare<[string], Row>('SELECT * FROM tenants WHERE id = ?');
    this.#list = db.prepare<[number, number], Row>('SELECT * FROM tenants ORDER BY created_at, id LIMIT ? OFFSET ?');
    this.#count = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM tenants');
    this.#update = db.prepare<[string, string, string, string, string]>(
      'UPDATE tenants SET name = ?, status = ?, settings = ?, updated_at = ? WHERE id = ?',
    );
    this.#delete = db.prepare<[string]>('DELETE FROM tenants WHERE id = ?');
    this.#recordedCalls = db.prepare<[string], { id: string }>('SELECT id FROM calls WHERE tenant_id = ? AND recording IS NOT NULL');
    this.#audioFiles = db.prepare<[string], { id: string }>('SELECT id FROM audio_files WHERE tenant_id = ?');
    this.#openCalls = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM calls WHERE tenant_id = ? AND ended_at IS NULL');
    this.#tx = transactionRunner(db);
  }

  /** Calls of the tenant that have not ended. */
  openCalls(id: string): number {
    return this.#openCalls.get(id)!.n;
  }

  /**
   * Deletes the tenant and, by cascade, every row it owns (users, keys, agents, calls, events...).
   * Returns the ids of its recorded calls and of its audio files, whose files the caller deletes
   * (files are not rows); undefined when there was no such tenant.
   */
  delete(id: string): { recordedCallIds: string[]; audioFileIds: string[] } | undefined {
    return this.#tx(() => {
      const recordedCallIds = this.#recordedCalls.all(id).map((r) => r.id);
      const audioFileIds = this.#audioFiles.all(id).map((r) => r.id);
      return this.#delete.run(id).changes > 0 ? { recordedCallIds, audioFileIds } : undefined;
    });
  }

  create(input: { name: string; status?: Tenant['status']; settings?: Record<string, unknown> }): Tenant {
    const now = nowIso();
    const t: Tenant = {
      id: newId(),
      name: input.name,
      status: input.status ?? 'active',
      settings: input.settings ?? {},
      createdAt: now,
      updatedAt: now,
    };
    this.#insert.run(t.id, t.name, t.status, JSON.stringify(t.settings), now, now);
    return t;
  }

  get(id: string): Tenant | undefined {
    const r = this.#get.get(id);
    return r && toTenant(r);
  }

  list(limit: number, offset: number): { items: Tenant[]; total: number } {
    return { items: this.#list.all(limit, offset).map(toTenant), total: this.#count.get()!.n };
  }

  count(): number {
    return this.#count.get()!.n;
  }

  update(id: string, patch: Partial<Pick<Tenant, 'name' | 'status' | 'settings'>>): Tenant | undefined {
    const cur = this.get(id);
    if (!cur) return undefined;
    const next = { ...cur, ...patch, updatedAt: nowIso() };
    this.#update.run(next.name, next.status, JSON.stringify(next.settings), next.updatedAt, id);
    return next;
  }
}
