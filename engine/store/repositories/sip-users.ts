/**
 * SIP users: who may REGISTER to the engine (see engine/calls/registrar). The password is kept
 * as given (the digest is checked against it); only the registrar reads it.
 */
import type { Db } from '../database.js';
import type { Mode } from '../mode.js';
import type { Scope } from './scoped.js';
import { ScopedRepo, type RowMapping } from './scoped-repo.js';

export interface SipUser {
  id: string;
  tenantId: string;
  mode: Mode;
  username: string;
  password: string;
  displayName: string | null;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: string;
  tenant_id: string;
  mode: Mode;
  username: string;
  password: string;
  display_name: string | null;
  created_at: string;
  updated_at: string;
}

const mapping: RowMapping<SipUser, Row> = {
  columns: ['id', 'tenant_id', 'mode', 'username', 'password', 'display_name', 'created_at', 'updated_at'],
  toObject: (r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    mode: r.mode,
    username: r.username,
    password: r.password,
    displayName: r.display_name,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }),
  toRow: (u) => ({
    id: u.id,
    tenant_id: u.tenantId,
    mode: u.mode,
    username: u.username,
    password: u.password,
    display_name: u.displayName,
    created_at: u.createdAt,
    updated_at: u.updatedAt,
  }),
};

type SipUserInput = Pick<SipUser, 'username' | 'password' | 'displayName'>;

/** Usernames are unique per tenant and mode: create and update throw a UNIQUE violation on a taken one. */
export class SipUsersRepo extends ScopedRepo<SipUser, Row, SipUserInput> {
  readonly #byUsername;

  constructor(db: Db) {
    super(db, 'sip_users', mapping);
    this.#byUsername = db.prepare<[string, Mode, string], Row>('SELECT * FROM sip_users WHERE tenant_id = ? AND mode = ? AND username = ?');
  }

  create(scope: Scope, input: SipUserInput): SipUser {
    return this.insert(scope, input);
  }

  /** The scope's user with this username (the registrar's lookup). */
  byUsername(scope: Scope, username: string): SipUser | undefined {
    const r = this.#byUsername.get(scope.tenantId, scope.mode, username);
    return r && mapping.toObject(r);
  }
}
