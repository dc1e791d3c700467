/**
 * Failures worth showing an admin (SIP failures, tool errors, provider errors, media and
 * internal errors), per tenant and mode. The engine records; analytics lists.
 */
import type { Db } from '../database.js';
import { nowIso } from '../ids.js';
import type { Mode } from '../mode.js';
import { ScopedTable, type Page, type Scope, type TimeRange } from './scoped.js';

export const errorKinds = ['sip', 'tool', 'provider', 'media', 'internal'] as const;
type ErrorKind = (typeof errorKinds)[number];

interface ErrorLog {
  id: number;
  tenantId: string | null;
  mode: Mode;
  kind: ErrorKind;
  callId: string | null;
  code: string | null;
  message: string;
  details: Record<string, unknown>;
  createdAt: string;
}

interface Row {
  id: number;
  tenant_id: string | null;
  mode: Mode;
  kind: ErrorKind;
  call_id: string | null;
  code: string | null;
  message: string;
  details: string;
  created_at: string;
}

const toLog = (r: Row): ErrorLog => ({
  id: r.id,
  tenantId: r.tenant_id,
  mode: r.mode,
  kind: r.kind,
  callId: r.call_id,
  code: r.code,
  message: r.message,
  details: JSON.parse(r.details) as Record<string, unknown>,
  createdAt: r.created_at,
});

interface NewErrorLog {
  /** null for installation-wide failures (no tenant known yet, e.g. an INVITE from an unknown IP). */
  tenantId: string | null;
  mode?: Mode;
  kind: ErrorKind;
  callId?: string | null;
  /** e.g. a SIP status (`486`), an HTTP status or a provider's error code. */
  code?: string | null;
  message: string;
  details?: Record<string, unknown>;
  /** Default now. */
  at?: string;
}

export class ErrorLogsRepo {
  readonly #table;
  readonly #insert;

  constructor(db: Db) {
    this.#table = new ScopedTable<Row, { kind: ErrorKind | null; callId: string | null }>(db, 'error_logs', {
      filters: { kind: 'kind = @kind', callId: 'call_id = @callId' },
      order: 'created_at DESC, id DESC',
    });
    this.#insert = db.prepare<[Omit<Row, 'id'>]>(
      `INSERT INTO error_logs (tenant_id, mode, kind, call_id, code, message, details, created_at)
       VALUES (@tenant_id, @mode, @kind, @call_id, @code, @message, @details, @created_at)`,
    );
  }

  record(input: NewErrorLog): ErrorLog {
    const row: Omit<Row, 'id'> = {
      tenant_id: input.tenantId,
      mode: input.mode ?? 'live',
      kind: input.kind,
      call_id: input.callId ?? null,
      code: input.code ?? null,
      message: input.message,
      details: JSON.stringify(input.details ?? {}),
      created_at: input.at ?? nowIso(),
    };
    const id = Number(this.#insert.run(row).lastInsertRowid);
    return toLog({ ...row, id });
  }

  /** The scope's errors, newest first. */
  list(scope: Scope, filters: TimeRange & { kind?: ErrorKind; callId?: string }, limit: number, offset: number): Page<ErrorLog> {
    const { rows, total } = this.#table.page(scope, filters, limit, offset);
    return { items: rows.map(toLog), total };
  }
}
