/**
 * Provider credentials: a name agents refer to, a kind, an optional base URL and an optional
 * API key. The key is stored as given (the runtime sends it to the provider); the API never
 * returns it, only whether there is one.
 */
import type { ProviderCredential } from '../../agents/providers/contracts.js';
import type { ProviderKind } from '../../agents/providers/provider-kinds.js';
import type { Db } from '../database.js';
import type { Mode } from '../mode.js';
import type { Scope } from './scoped.js';
import { ScopedRepo, type RowMapping } from './scoped-repo.js';

export interface Provider {
  id: string;
  tenantId: string;
  mode: Mode;
  name: string;
  kind: ProviderKind;
  baseUrl: string | null;
  apiKey: string | null;
  createdAt: string;
  updatedAt: string;
}

/** What the runtime needs to reach a provider. */
export interface ResolvedProvider extends ProviderCredential {
  kind: ProviderKind;
}

interface Row {
  id: string;
  tenant_id: string;
  mode: Mode;
  name: string;
  kind: ProviderKind;
  base_url: string | null;
  api_key: string | null;
  created_at: string;
  updated_at: string;
}

const mapping: RowMapping<Provider, Row> = {
  columns: ['id', 'tenant_id', 'mode', 'name', 'kind', 'base_url', 'api_key', 'created_at', 'updated_at'],
  toObject: (r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    mode: r.mode,
    name: r.name,
    kind: r.kind,
    baseUrl: r.base_url,
    apiKey: r.api_key,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }),
  toRow: (p) => ({
    id: p.id,
    tenant_id: p.tenantId,
    mode: p.mode,
    name: p.name,
    kind: p.kind,
    base_url: p.baseUrl,
    api_key: p.apiKey,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  }),
};

type ProviderInput = Pick<Provider, 'name' | 'kind'> & Partial<Pick<Provider, 'baseUrl' | 'apiKey'>>;

/** Names are unique per tenant and mode: create and update throw a UNIQUE violation on a taken one. */
export class ProvidersRepo extends ScopedRepo<Provider, Row, ProviderInput, { kind: ProviderKind | null }> {
  readonly #byName;

  constructor(db: Db) {
    super(db, 'providers', mapping, { filters: { kind: 'kind = @kind' } });
    this.#byName = db.prepare<[string, Mode, string], Row>('SELECT * FROM providers WHERE tenant_id = ? AND mode = ? AND name = ?');
  }

  create(scope: Scope, input: ProviderInput): Provider {
    return this.insert(scope, { name: input.name, kind: input.kind, baseUrl: input.baseUrl ?? null, apiKey: input.apiKey ?? null });
  }

  /** The scope's provider of that name. */
  byName(scope: Scope, name: string): Provider | undefined {
    const r = this.#byName.get(scope.tenantId, scope.mode, name);
    return r && mapping.toObject(r);
  }

  /**
   * For the runtime: the kind, key and base URL an agent's provider name stands for in its
   * tenant and mode, or null when there is none (the built-in `flite` is never stored).
   */
  resolve(tenantId: string, mode: Mode, name: string): ResolvedProvider | null {
    const r = this.#byName.get(tenantId, mode, name);
    return r ? { kind: r.kind, apiKey: r.api_key, baseUrl: r.base_url } : null;
  }
}
