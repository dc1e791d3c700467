/**
 * Phone numbers: an E.164 number or a SIP user part, mapped to an agent or to one of the tenant's
 * SIP users (its registered devices ring, engine/calls/trunk-user-call.ts), and optionally a trunk. A
 * number is unique across the installation, so an inbound call finds exactly one owner.
 */
import type { Db } from '../database.js';
import type { Mode } from '../mode.js';
import type { Scope } from './scoped.js';
import { ScopedRepo, type RowMapping } from './scoped-repo.js';

export interface PhoneNumber {
  id: string;
  tenantId: string;
  mode: Mode;
  number: string;
  name: string | null;
  agentId: string | null;
  /** The SIP user whose bindings ring for calls to this number (null when an agent answers). */
  sipUserId: string | null;
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
  sip_user_id: string | null;
  trunk_id: string | null;
  created_at: string;
  updated_at: string;
}

const mapping: RowMapping<PhoneNumber, Row> = {
  columns: ['id', 'tenant_id', 'mode', 'number', 'name', 'agent_id', 'sip_user_id', 'trunk_id', 'created_at', 'updated_at'],
  toObject: (r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    mode: r.mode,
    number: r.number,
    name: r.name,
    agentId: r.agent_id,
    sipUserId: r.sip_user_id,
    trunkId: r.trunk_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }),
  toRow: (n) => ({
    id: n.id,
    tenant_id: n.tenantId,
    mode: n.mode,
    number: n.number,
    name: n.name,
    agent_id: n.agentId,
    sip_user_id: n.sipUserId,
    trunk_id: n.trunkId,
    created_at: n.createdAt,
    updated_at: n.updatedAt,
  }),
};

type PhoneNumberInput = Pick<PhoneNumber, 'number'> & Partial<Pick<PhoneNumber, 'name' | 'agentId' | 'sipUserId' | 'trunkId'>>;

/** Numbers are unique across the installation: create and update throw a UNIQUE violation on a taken one. */
export class PhoneNumbersRepo extends ScopedRepo<PhoneNumber, Row, PhoneNumberInput, { agentId: string | null; sipUserId: string | null; trunkId: string | null }> {
  readonly #byNumber;

  constructor(db: Db) {
    super(db, 'phone_numbers', mapping, {
      filters: { agentId: 'agent_id = @agentId', sipUserId: 'sip_user_id = @sipUserId', trunkId: 'trunk_id = @trunkId' },
    });
    this.#byNumber = db.prepare<[string], Row>('SELECT * FROM phone_numbers WHERE number = ?');
  }

  create(scope: Scope, input: PhoneNumberInput): PhoneNumber {
    return this.insert(scope, { number: input.number, name: input.name ?? null, agentId: input.agentId ?? null, sipUserId: input.sipUserId ?? null, trunkId: input.trunkId ?? null });
  }

  /** The number's owner, whatever the tenant: inbound routing (dialled number → tenant, agent). */
  findByNumber(number: string): PhoneNumber | undefined {
    const r = this.#byNumber.get(number);
    return r && mapping.toObject(r);
  }
}
