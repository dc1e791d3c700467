/**
 * Webhook subscriptions: where a tenant wants its events POSTed, signed with the subscription's
 * secret. The secret is stored as given (the dispatcher signs with it); the API shows it only in
 * the create answer. `matching` is what the event log's writer asks for every event.
 */
import type { Db } from '../database.js';
import type { Mode } from '../mode.js';
import type { Scope } from './scoped.js';
import { ScopedRepo, type RowMapping } from './scoped-repo.js';

export interface Webhook {
  id: string;
  tenantId: string;
  mode: Mode;
  url: string;
  secret: string;
  eventTypes: string[];
  /** Only events of this agent's calls; null: every agent's. */
  agentId: string | null;
  description: string | null;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: string;
  tenant_id: string;
  mode: Mode;
  url: string;
  secret: string;
  event_types: string;
  agent_id: string | null;
  description: string | null;
  enabled: number;
  created_at: string;
  updated_at: string;
}

const mapping: RowMapping<Webhook, Row> = {
  columns: ['id', 'tenant_id', 'mode', 'url', 'secret', 'event_types', 'agent_id', 'description', 'enabled', 'created_at', 'updated_at'],
  toObject: (r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    mode: r.mode,
    url: r.url,
    secret: r.secret,
    eventTypes: JSON.parse(r.event_types) as string[],
    agentId: r.agent_id,
    description: r.description,
    enabled: r.enabled === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }),
  toRow: (w) => ({
    id: w.id,
    tenant_id: w.tenantId,
    mode: w.mode,
    url: w.url,
    secret: w.secret,
    event_types: JSON.stringify(w.eventTypes),
    agent_id: w.agentId,
    description: w.description,
    enabled: w.enabled ? 1 : 0,
    created_at: w.createdAt,
    updated_at: w.updatedAt,
  }),
};

export type WebhookInput = Pick<Webhook, 'url' | 'secret' | 'eventTypes'> & Partial<Pick<Webhook, 'agentId' | 'description' | 'enabled'>>;

export class WebhooksRepo extends ScopedRepo<Webhook, Row, WebhookInput, { enabled: number | null }> {
  readonly #matching;

  constructor(db: Db) {
    super(db, 'webhooks', mapping, { filters: { enabled: 'enabled = @enabled' } });
    // One indexed lookup per event; the type and agent tests run in SQL so no JSON is parsed in JS.
    this.#matching = db
      .prepare<[string, Mode, string, string | null], { id: string }>(
        `SELECT id FROM webhooks
         WHERE tenant_id = ? AND mode = ? AND enabled = 1
           AND EXISTS (SELECT 1 FROM json_each(event_types) WHERE value = ?)
           AND (agent_id IS NULL OR agent_id IS ?)`,
      )
      .pluck();
  }

  create(scope: Scope, input: WebhookInput): Webhook {
    return this.insert(scope, {
      url: input.url,
      secret: input.secret,
      eventTypes: input.eventTypes,
      agentId: input.agentId ?? null,
      description: input.description ?? null,
      enabled: input.enabled ?? true,
    });
  }

  /** Ids of the enabled subscriptions of a tenant and mode that want an event of `type` from `agentId`'s call. */
  matching(tenantId: string, mode: Mode, type: string, agentId: string | null): string[] {
    return this.#matching.all(tenantId, mode, type, agentId) as unknown as string[];
  }
}
