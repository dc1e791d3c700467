/**
 * Phone numbers: an E.164 number or a SIP user, mapped to an agent and optionally a trunk. A
 * number is unique across the installation, so an inbound call finds exactly one owner.
 */
import type { Db } from '../database.js';
import { newId, nowIso } from '../ids.js';
import type { Mode } from './api-keys.js';
import { definedOnly, ScopedTable, type Page, type Scope, type TimeRange } from './scoped.js';

export interface PhoneNumber {
  id: string;
  tenantId: string;
  mode: Mode;
  number: string;
  name: string | null;
  agentId: string | null;
  trunkId: string | null;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: string;
  tenant_id: string;
  mode: Mode;
  number: string;
  name: string | null;
  agent_id: string | null;
  trunk_id: string | null;
  created_at: string;
  updated_at: string;
}

const toNumber = (r: Row): PhoneNumber => ({
  id: r.id,
  tenantId: r.tenant_id,
  mode: r.mode,
  number: r.number,
  name: r.name,
  agentId: r.agent_id,
  trunkId: r.trunk_id,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export type PhoneNumberInput = Pick<PhoneNumber, 'number'> & Partial<Pick<PhoneNumber, 'name' | 'agentId' | 'trunkId'>>;

export class PhoneNumbersRepo {
  readonly #table;
  readonly #insert;
  readonly #update;
  readonly #byNumber;

  constructor(db: Db) {
    this.#table = new ScopedTable<Row, { agentId: string | null; trunkId: string | null }>(db, 'phone_numbers', {
      filters: 'AND (@agentId IS NULL OR agent_id = @agentId) AND (@trunkId IS NULL OR trunk_id = @trunkId)',
      filterDefaults: { agentId: null, trunkId: null },
    });
    this.#insert = db.prepare(
      `INSERT INTO phone_numbers (id, tenant_id, mode, number, name, agent_id, trunk_id, created_at, updated_at)
       VALUES (@id, @tenantId, @mode, @number, @name, @agentId, @trunkId, @createdAt, @updatedAt)`,
    );
    this.#update = db.prepare(
      `UPDATE phone_numbers SET number = @number, name = @name, agent_id = @agentId, trunk_id = @trunkId,
       updated_at = @updatedAt WHERE id = @id AND tenant_id = @tenantId AND mode = @mode`,
    );
    this.#byNumber = db.prepare<[string], Row>('SELECT * FROM phone_numbers WHERE number = ?');
  }

  /** Throws a UNIQUE violation (see `isUniqueViolation`) when the number is taken anywhere. */
  create(scope: Scope, input: PhoneNumberInput): PhoneNumber {
    const now = nowIso();
    const n: PhoneNumber = {
      id: newId(),
      tenantId: scope.tenantId,
      mode: scope.mode,
      number: input.number,
      name: input.name ?? null,
      agentId: input.agentId ?? null,
      trunkId: input.trunkId ?? null,
      createdAt: now,
      updatedAt: now,
    };
    this.#insert.run(n);
    return n;
  }

  get(scope: Scope, id: string): PhoneNumber | undefined {
    const r = this.#table.get(scope, id);
    return r && toNumber(r);
  }

  /** The number's owner, whatever the tenant: inbound routing (dialled number → tenant, agent). */
  findByNumber(number: string): PhoneNumber | undefined {
    const r = this.#byNumber.get(number);
    return r && toNumber(r);
  }

  list(scope: Scope, filters: TimeRange & { agentId?: string; trunkId?: string }, limit: number, offset: number): Page<PhoneNumber> {
    const { rows, total } = this.#table.page(scope, filters, limit, offset);
    return { items: rows.map(toNumber), total };
  }

  /** Replaces the given fields (null clears agent or trunk); throws a UNIQUE violation on a taken number. */
  update(scope: Scope, id: string, patch: Partial<PhoneNumberInput>): PhoneNumber | undefined {
    const cur = this.get(scope, id);
    if (!cur) return undefined;
    const next: PhoneNumber = { ...cur, ...definedOnly(patch), updatedAt: nowIso() };
    this.#update.run(next);
    return next;
  }

  delete(scope: Scope, id: string): boolean {
    return this.#table.delete(scope, id);
  }
}
