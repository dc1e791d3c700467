/**
 * Call records. Call control writes them (`create`, `markRinging`, `markAnswered`, `end`); the
 * API reads them, with the call's timeline from the event log. A call's state is written here
 * before it is announced.
 */
import {
  callRecordingSchema,
  type Call,
  type CallDirection,
  type CallEnd,
  type CallEvent,
  type CallRecording,
  type CallStatus,
  type CallSummary,
  type EndReason,
  type HangupBy,
  type NewCall,
} from '../../calls/call-record.js';
import { transactionRunner, type Db } from '../database.js';
import { newId, nowIso } from '../ids.js';
import type { Mode } from '../mode.js';
import { ScopedTable, type Page, type Scope, type TimeRange } from './scoped.js';

interface SummaryRow {
  id: string;
  tenant_id: string;
  mode: Mode;
  direction: CallDirection;
  status: CallStatus;
  from_uri: string | null;
  to_uri: string | null;
  from_number: string | null;
  to_number: string | null;
  trunk_id: string | null;
  agent_id: string | null;
  phone_number_id: string | null;
  workflow_id: string | null;
  workflow_version: number | null;
  sip_call_id: string | null;
  started_at: string;
  answered_at: string | null;
  ended_at: string | null;
  duration_ms: number | null;
  end_reason: string | null;
  hangup_by: HangupBy | null;
  sip_code: number | null;
  created_at: string;
  updated_at: string;
}

interface Row extends SummaryRow {
  rtp_stats: string;
  transcript: string;
  metrics: string;
  metadata: string;
  recording: string | null;
}

const summaryColumns = `id, tenant_id, mode, direction, status, from_uri, to_uri, from_number, to_number, trunk_id,
  agent_id, phone_number_id, workflow_id, workflow_version, sip_call_id, started_at, answered_at, ended_at,
  duration_ms, end_reason, hangup_by, sip_code, created_at, updated_at`;

const toSummary = (r: SummaryRow): CallSummary => ({
  id: r.id,
  tenantId: r.tenant_id,
  mode: r.mode,
  direction: r.direction,
  status: r.status,
  fromUri: r.from_uri,
  toUri: r.to_uri,
  fromNumber: r.from_number,
  toNumber: r.to_number,
  trunkId: r.trunk_id,
  agentId: r.agent_id,
  phoneNumberId: r.phone_number_id,
  workflowId: r.workflow_id,
  workflowVersion: r.workflow_version,
  sipCallId: r.sip_call_id,
  startedAt: r.started_at,
  answeredAt: r.answered_at,
  endedAt: r.ended_at,
  durationMs: r.duration_ms,
  // Written only from `endReasons` (CallEnd.reason).
  endReason: r.end_reason as EndReason | null,
  hangupBy: r.hangup_by,
  sipCode: r.sip_code,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/**
 * The JSON columns are the engine's own writing (each written from its typed value by this
 * repository), so they are read back as those types without a schema pass: re-checking trusted
 * rows cost a zod parse of each on every read, call control's end of call included.
 */
const toCall = (r: Row): Call => ({
  ...toSummary(r),
  rtpStats: JSON.parse(r.rtp_stats) as Call['rtpStats'],
  transcript: JSON.parse(r.transcript) as Call['transcript'],
  metrics: JSON.parse(r.metrics) as Call['metrics'],
  metadata: JSON.parse(r.metadata) as Record<string, unknown>,
  recording: r.recording === null ? null : (JSON.parse(r.recording) as CallRecording),
});

interface CallFilters extends TimeRange {
  status?: CallStatus;
  direction?: CallDirection;
  agentId?: string;
}

/** The named parameters of `CallsRepo#end`'s statement (null: keep what the row has, or its default). */
interface EndParams {
  id: string;
  at: string;
  status: string | null;
  reason: string;
  hangupBy: string | null;
  sipCode: number | null;
  rtpStats: string | null;
  transcript: string | null;
  metrics: string | null;
}

type ListFilters = { status: CallStatus | null; direction: CallDirection | null; agentId: string | null };

export class CallsRepo {
  readonly #table;
  readonly #insert;
  readonly #getById;
  readonly #bySipCallId;
  readonly #ringing;
  readonly #answered;
  readonly #end;
  readonly #answerSent;
  readonly #setSipCallId;
  readonly #sentUnrecorded;
  readonly #open;
  readonly #events;
  readonly #eventCount;
  readonly #tx;
  readonly #setRecording;
  readonly #liveRecordings;

  constructor(db: Db) {
    this.#table = new ScopedTable<Row, ListFilters, SummaryRow>(db, 'calls', {
      filters: { status: 'status = @status', direction: 'direction = @direction', agentId: 'agent_id = @agentId' },
      timeColumn: 'started_at',
      order: 'started_at DESC, id DESC',
      listColumns: summaryColumns,
    });
    this.#insert = db.prepare(
      `INSERT INTO calls (id, tenant_id, mode, direction, status, from_uri, to_uri, from_number, to_number, trunk_id,
         agent_id, phone_number_id, workflow_id, workflow_version, sip_call_id, started_at, metadata, created_at, updated_at)
       VALUES (@id, @tenantId, @mode, @direction, @status, @fromUri, @toUri, @fromNumber, @toNumber, @trunkId,
         @agentId, @phoneNumberId, @workflowId, @workflowVersion, @sipCallId, @startedAt, @metadata, @createdAt, @updatedAt)`,
    );
    this.#getById = db.prepare<[string], Row>('SELECT * FROM calls WHERE id = ?');
    this.#bySipCallId = db.prepare<[string], Row>('SELECT * FROM calls WHERE sip_call_id = ? ORDER BY started_at DESC LIMIT 1');
    this.#ringing = db.prepare<[string, string]>(
      "UPDATE calls SET status = 'ringing', updated_at = ? WHERE id = ? AND status = 'queued'",
    );
    this.#answered = db.prepare<[string, string, string]>(
      `UPDATE calls SET status = 'in_progress', answered_at = ?, updated_at = ?
       WHERE id = ? AND answered_at IS NULL AND ended_at IS NULL`,
    );
    // One statement, no read first: what the row held (answered or not, the SIP status, the
    // stats) is taken in SQL where `how` leaves it. The talk time is whole milliseconds, from
    // julianday's integer-millisecond clock (RFC 3339 times, as every time here is written).
    this.#end = db.prepare<[EndParams], Row>(
      `UPDATE calls SET
         status = COALESCE(@status, CASE WHEN answered_at IS NULL THEN 'failed' ELSE 'completed' END),
         ended_at = @at,
         duration_ms = CASE WHEN answered_at IS NULL THEN NULL
           ELSE MAX(0, CAST(ROUND((julianday(@at) - julianday(answered_at)) * 86400000) AS INTEGER)) END,
         end_reason = @reason, hangup_by = @hangupBy,
         sip_code = COALESCE(@sipCode, sip_code), rtp_stats = COALESCE(@rtpStats, rtp_stats),
         transcript = COALESCE(@transcript, transcript), metrics = COALESCE(@metrics, metrics),
         updated_at = @at
       WHERE id = @id AND ended_at IS NULL
       RETURNING *`,
    );
    this.#setSipCallId = db.prepare<[string, string, string]>('UPDATE calls SET sip_call_id = ?, updated_at = ? WHERE id = ? AND ended_at IS NULL');
    this.#answerSent = db.prepare<[string, string]>('UPDATE calls SET answer_sent_at = ? WHERE id = ? AND ended_at IS NULL');
    this.#sentUnrecorded = db.prepare<[], { id: string; answer_sent_at: string }>(
      'SELECT id, answer_sent_at FROM calls WHERE ended_at IS NULL AND answered_at IS NULL AND answer_sent_at IS NOT NULL',
    );
    this.#open = db.prepare<[], { id: string; updated_at: string }>('SELECT id, updated_at FROM calls WHERE ended_at IS NULL');
    this.#events = db.prepare<[string, string, Mode, number, number], { id: number; type: string; data: string; created_at: string }>(
      'SELECT id, type, data, created_at FROM events WHERE call_id = ? AND tenant_id = ? AND mode = ? ORDER BY id LIMIT ? OFFSET ?',
    );
    this.#eventCount = db.prepare<[string, string, Mode], { n: number }>(
      'SELECT COUNT(*) AS n FROM events WHERE call_id = ? AND tenant_id = ? AND mode = ?',
    );
    this.#tx = transactionRunner(db);
    this.#setRecording = db.prepare<[string | null, string, string]>('UPDATE calls SET recording = ?, updated_at = ? WHERE id = ?');
    this.#liveRecordings = db.prepare<[], { id: string; recording: string }>(
      "SELECT id, recording FROM calls WHERE json_extract(recording, '$.status') = 'recording'",
    );
  }

  /** Records a new call (status `ringing` unless `queued`). */
  create(input: NewCall): Call {
    const now = nowIso();
    const c: Call = {
      id: newId(),
      tenantId: input.tenantId,
      mode: input.mode,
      direction: input.direction,
      status: input.status ?? 'ringing',
      fromUri: input.fromUri ?? null,
      toUri: input.toUri ?? null,
      fromNumber: input.fromNumber ?? null,
      toNumber: input.toNumber ?? null,
      trunkId: input.trunkId ?? null,
      agentId: input.agentId ?? null,
      phoneNumberId: input.phoneNumberId ?? null,
      workflowId: input.workflowId ?? null,
      workflowVersion: input.workflowVersion ?? null,
      sipCallId: input.sipCallId ?? null,
      startedAt: input.startedAt ?? now,
      answeredAt: null,
      endedAt: null,
      durationMs: null,
      endReason: null,
      hangupBy: null,
      sipCode: null,
      rtpStats: {},
      transcript: [],
      metrics: {},
      metadata: input.metadata ?? {},
      recording: null,
      createdAt: now,
      updatedAt: now,
    };
    this.#insert.run({ ...c, metadata: JSON.stringify(c.metadata) });
    return c;
  }

  /** A queued outbound call starts ringing. False when it was not queued. */
  markRinging(id: string, at: string = nowIso()): boolean {
    return this.#ringing.run(at, id).changes > 0;
  }

  /** An outbound call's INVITE left with this Call-ID. False when the call has ended. */
  setSipCallId(id: string, sipCallId: string): boolean {
    return this.#setSipCallId.run(sipCallId, nowIso(), id).changes > 0;
  }

  /** The call was answered: `in_progress` from `at`. False when already answered or ended. */
  markAnswered(id: string, at: string = nowIso()): boolean {
    return this.#answered.run(at, at, id).changes > 0;
  }

  /**
   * Ends the call once: status, end time, talk time, reason, who hung up, and the final media
   * stats, transcript and metrics. Undefined when the call does not exist or has already ended.
   */
  end(id: string, how: CallEnd): Call | undefined {
    const r = this.#end.get({
      id,
      at: how.at ?? nowIso(),
      status: how.status ?? null,
      reason: how.reason,
      hangupBy: how.hangupBy ?? null,
      sipCode: how.sipCode ?? null,
      rtpStats: how.rtpStats ? JSON.stringify(how.rtpStats) : null,
      transcript: how.transcript ? JSON.stringify(how.transcript) : null,
      metrics: how.metrics ? JSON.stringify(how.metrics) : null,
    });
    return r && toCall(r);
  }

  /**
   * The 200 OK of the call is about to be sent (written before it, so a crash between the 200 and
   * `markAnswered` leaves a trace; see migration 0006). False when the call has ended.
   */
  markAnswerSent(id: string, at: string = nowIso()): boolean {
    return this.#answerSent.run(at, id).changes > 0;
  }

  /**
   * Start-up recovery: open calls whose 200 OK was sent but whose answer was never recorded (the
   * process died in between) are recorded as answered when the 200 was sent. Returns them.
   */
  recordSentAnswers(): Call[] {
    return this.#tx(() =>
      this.#sentUnrecorded.all().flatMap((r) => (this.markAnswered(r.id, r.answer_sent_at) ? [this.getById(r.id)!] : [])),
    );
  }

  /**
   * Ends every call still open (start-up after a crash), by the system; returns the calls as
   * ended. `at` is when they are known to have died by (default now); a call written later than
   * that ends at its last write instead, never before it.
   */
  endAllOpen(reason: EndReason, at: string = nowIso()): Call[] {
    return this.#tx(() =>
      this.#open.all().flatMap((r) => this.end(r.id, { reason, hangupBy: 'system', at: r.updated_at > at ? r.updated_at : at }) ?? []),
    );
  }

  /** Writes the call's recording state (any tenant's call, for the recorder). False when the call is gone. */
  setRecording(id: string, recording: CallRecording | null): boolean {
    return this.#setRecording.run(recording && JSON.stringify(recording), nowIso(), id).changes > 0;
  }

  /** Calls whose recording was still being written (after a crash: none is, at start-up). */
  unfinishedRecordings(): { id: string; recording: CallRecording }[] {
    return this.#liveRecordings.all().map((r) => ({ id: r.id, recording: callRecordingSchema.parse(JSON.parse(r.recording)) }));
  }

  get(scope: Scope, id: string): Call | undefined {
    const r = this.#table.get(scope, id);
    return r && toCall(r);
  }

  /** Any tenant's call, for call control. */
  getById(id: string): Call | undefined {
    const r = this.#getById.get(id);
    return r && toCall(r);
  }

  /** The latest call with this SIP Call-ID. */
  bySipCallId(sipCallId: string): Call | undefined {
    const r = this.#bySipCallId.get(sipCallId);
    return r && toCall(r);
  }

  /** The scope's calls, newest first. */
  list(scope: Scope, filters: CallFilters, limit: number, offset: number): Page<CallSummary> {
    const { rows, total } = this.#table.page(scope, filters, limit, offset);
    return { items: rows.map(toSummary), total };
  }

  /** The call's events in order; undefined when the call is not the scope's. */
  timeline(scope: Scope, id: string, limit: number, offset: number): Page<CallEvent> | undefined {
    if (!this.#table.get(scope, id)) return undefined;
    const items = this.#events
      .all(id, scope.tenantId, scope.mode, limit, offset)
      .map((e) => ({ id: e.id, type: e.type, data: JSON.parse(e.data) as unknown, createdAt: e.created_at }));
    return { items, total: this.#eventCount.get(id, scope.tenantId, scope.mode)!.n };
  }
}
