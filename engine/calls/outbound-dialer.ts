/**
 * Outbound calls (`POST /api/v1/calls`): recorded `queued` at once, then placed through their
 * trunk's gateway, or to the newest binding of one of the tenant's registered SIP users, as the
 * caps allow. Caps queue, they never drop:
 *
 * - the trunk's `cpsLimit`: INVITEs on one trunk leave at least 1/cpsLimit s apart (a call leaves
 *   the queue at its slot; its INVITE then waits until 1/cpsLimit s after the last one sent);
 * - the trunk's `maxConcurrentCalls`: live outbound calls (dialling or answered) on the trunk;
 * - `tenantMaxCalls` (engine setting): live outbound calls of one tenant, all trunks and users;
 * - the engine's own capacity (`maxCalls`, shared with inbound calls).
 *
 * Each queue is a `Line`: a trunk with its two caps, or a tenant's calls to its SIP users (one
 * line per tenant and mode, without caps of its own: no carrier to protect).
 *
 * A queued call can be canceled (status `canceled`) or is ended `shutdown` when the engine stops:
 * nothing stays `queued` after a clean stop (after a crash, orphans.ts closes it at start-up).
 * Calls of test keys (`mode` test) never reach SIP: see `simulate`.
 */
import type { Mode } from '../store/mode.js';
import { Call } from './call.js';
import { recordAnswered, recordEnd } from './call-end.js';
import { runSteps, untilAborted } from './call-steps.js';
import { outboundSteps, userCallSteps, type Callee, type OutboundContext, type OutboundDeps } from './outbound-steps.js';

export type { Callee };

/** A call to place, as the API validated it. */
export interface PlaceRequest {
  tenantId: string;
  mode: Mode;
  agentId: string;
  /** As given: an E.164 number or sip: URI (trunk calls), the user's address of record (user calls). */
  to: string;
  callee: Callee;
  /** The caller id (From user): the request's `from`, else the trunk's `callerId` (user calls: drachtio's default From). */
  from: string | null;
  headers: Record<string, string>;
  ringTimeoutSeconds: number;
  variables: Record<string, unknown>;
}

/** Where a queued call stands; null once it has left the queue. */
export interface QueueInfo {
  /** 1 = next on its line (its trunk, or the tenant's calls to SIP users). */
  position: number;
  /**
   * The earliest start the trunk's CPS cap allows (ISO 8601): a lower bound while a concurrency
   * cap holds the queue back.
   */
  estimatedStartAt: string;
}

export type CancelResult = 'canceled' | 'answered' | 'not_live';

export interface DialerDeps extends OutboundDeps {
  /** Live outbound calls one tenant may have at once (all its trunks and SIP users). */
  tenantMaxCalls: number;
  /** Whether the engine has room for one more call (its `maxCalls`). */
  hasRoom(): boolean;
  /** Registers a dialled call with call control (capacity, shutdown, API hangup). */
  admit(call: Call): void;
  /** Work that must finish before shutdown (the final record of a call). */
  settle(work: Promise<void>): void;
}

/** What one queue is held to: a trunk's caps, or none (a tenant's calls to its SIP users). */
interface Line {
  key: string;
  cpsLimit: number | null;
  maxConcurrentCalls: number | null;
}

interface Job {
  call: Call;
  ctx: OutboundContext;
  line: Line;
}

function lineOf(r: PlaceRequest): Line {
  if (r.callee.kind === 'trunk') return { key: r.callee.trunk.id, cpsLimit: r.callee.trunk.cpsLimit, maxConcurrentCalls: r.callee.trunk.maxConcurrentCalls };
  return { key: `users:${r.tenantId}:${r.mode}`, cpsLimit: null, maxConcurrentCalls: null };
}

/**
 * Calls of one line that may hold a media leg while they wait for their INVITE slot: enough to
 * keep the pace when making a leg takes a while, few enough that a slow send path does not pile
 * legs up behind it.
 */
const MAX_PACING = 2;
/** The engine retries a queue held back by its own capacity this often (no event frees it). */
const CAPACITY_RETRY_MS = 250;
/** A test call's ring, then its talk time: short enough for a test suite, long enough to be seen. */
export const TEST_CALL_TIMING = { ringMs: 200, talkMs: 1000 } as const;

export class OutboundDialer {
  /** Waiting calls per line (trunk, or a tenant's SIP users), oldest first. */
  readonly #queues = new Map<string, Job[]>();
  /** Live (dialling or answered) outbound calls per line and per tenant. */
  readonly #liveByLine = new Map<string, number>();
  readonly #liveByTenant = new Map<string, number>();
  /** The last slot given to a call leaving the queue, per line (`performance.now()` ms). */
  readonly #lastSlot = new Map<string, number>();
  /** When the last INVITE left, per line, and the chain of INVITEs waiting for their slot. */
  readonly #lastInvite = new Map<string, number>();
  readonly #paceChain = new Map<string, Promise<void>>();
  /** Calls per line out of the queue whose INVITE has not left yet (making their leg, or waiting for their slot). */
  readonly #pacing = new Map<string, Set<string>>();
  /** The final records being written, per call (a cancel answers once its record is written). */
  readonly #records = new Map<string, Promise<void>>();
  /** Every outbound call not yet ended, by id (queued, dialling, answered, simulated). */
  readonly #calls = new Map<string, Call>();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(private readonly deps: DialerDeps) {}

  /** Whether calls are taken (false once the engine is stopping). */
  get accepting(): boolean {
    return !this.#closed;
  }

  /** Records the call (`queued`, with `call.started`) and queues it; returns its id. Null once closed. */
  place(r: PlaceRequest): string | null {
    if (this.#closed) return null;
    const { deps } = this;
    const scope = { tenantId: r.tenantId, mode: r.mode };
    const agent = deps.store.agents.get(scope, r.agentId);
    const wf = agent?.config.workflowId ? deps.store.workflows.get(scope, agent.config.workflowId) : undefined;
    const workflow = wf ? { id: wf.id, version: wf.version } : null;
    const trunkId = r.callee.kind === 'trunk' ? r.callee.trunk.id : null;
    const toUri = r.callee.kind === 'trunk' ? r.callee.target.uri : r.callee.aor;
    const toNumber = r.callee.kind === 'trunk' && r.to.startsWith('+') ? r.to : null;
    const sipUser = r.callee.kind === 'user' ? { sipUserId: r.callee.sipUserId } : {};
    const id = deps.events.transaction(() => {
      const row = deps.store.calls.create({
        ...scope,
        direction: 'outbound',
        status: 'queued',
        fromUri: null,
        toUri,
        fromNumber: r.from,
        toNumber,
        trunkId,
        agentId: r.agentId,
        workflowId: workflow?.id ?? null,
        workflowVersion: workflow?.version ?? null,
        metadata: { variables: r.variables, headers: r.headers, ringTimeoutSeconds: r.ringTimeoutSeconds, ...sipUser },
      });
      deps.events.append('call.started', { ...scope, callId: row.id }, {
        callId: row.id,
        agentId: r.agentId,
        direction: 'outbound',
        from: { uri: null, number: r.from },
        to: { uri: toUri, number: toNumber },
        trunkId,
        sipCallId: null,
      });
      return row.id;
    });
    const log = deps.log.child({ callId: id, direction: 'outbound' });
    const line = lineOf(r);
    const call = new Call({ id, tenantId: r.tenantId, mode: r.mode, agentId: r.agentId, sipCallId: '' }, log, performance.now(), 'queued');
    const ctx: OutboundContext = {
      call,
      deps,
      log,
      scope: { ...scope, callId: id },
      callee: r.callee,
      ...(r.callee.kind === 'trunk' ? { target: r.callee.target } : {}),
      callingNumber: r.from,
      headers: r.headers,
      ringMs: r.ringTimeoutSeconds * 1000,
      pace: (signal) => this.#pace(line, id, signal),
      sipCode: null,
      agent: agent ?? null,
      workflow,
      direction: 'outbound',
      facts: { callId: id, agentId: r.agentId, caller: r.from, callee: toNumber ?? r.to, trunkId, headers: r.headers, variables: r.variables },
      has: (need) => (need === 'leg' ? !!ctx.leg : !!ctx.dialog),
    };
    this.#calls.set(id, call);
    call.once('ended', () => {
      this.#calls.delete(id);
      const recorded = recordEnd(deps, call, ctx.leg, () => ctx.sipCode);
      deps.settle(recorded);
      this.#records.set(id, recorded);
      void recorded.catch(() => undefined).finally(() => this.#records.delete(id));
    });
    log.info({ trunkId, to: toUri, mode: r.mode }, 'outbound call queued');
    if (r.mode === 'test') {
      this.#simulate(ctx);
      return id;
    }
    const q = this.#queues.get(line.key) ?? [];
    q.push({ call, ctx, line });
    this.#queues.set(line.key, q);
    call.once('ended', () => this.#unqueue(line.key, call));
    this.#pump();
    return id;
  }

  /** Where a queued call stands, or null when it is not queued (here). */
  queueInfo(callId: string): QueueInfo | null {
    for (const [key, q] of this.#queues) {
      const i = q.findIndex((j) => j.call.id === callId);
      if (i < 0) continue;
      const gap = slotGap(q[i]!.line);
      const now = performance.now();
      const first = Math.max(now, (this.#lastSlot.get(key) ?? -Infinity) + gap);
      const at = first + i * gap;
      return { position: i + 1, estimatedStartAt: new Date(Date.now() + (at - now)).toISOString() };
    }
    return null;
  }

  /**
   * Cancels a queued or ringing call (CANCEL on the wire once dialled): `canceled`. An answered
   * call is `answered` (hang it up instead); `not_live` when this engine has no such live call.
   */
  async cancel(callId: string): Promise<CancelResult> {
    const call = this.#calls.get(callId);
    if (!call || call.ended) return 'not_live';
    if (call.state === 'answered') return 'answered';
    call.end({ reason: 'canceled', hangupBy: 'system' });
    // Answered once the call's record says canceled (a failed write is call control's log line).
    await this.#records.get(callId)?.catch(() => undefined);
    return 'canceled';
  }

  /** Live outbound calls this engine carries (queued included). */
  get size(): number {
    return this.#calls.size;
  }

  /**
   * Stops placing calls: queued ones end `shutdown` (status failed), and so do test calls.
   * Dialled ones are call control's (it ends them with CANCEL or BYE).
   */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const call of [...this.#calls.values()]) {
      if (call.state === 'queued' || call.identity.mode === 'test') call.end({ reason: 'shutdown', hangupBy: 'system' });
    }
  }

  /** A call's INVITE has left (or never will): another call of the line may make its leg. */
  #leavePacing(key: string, callId: string): void {
    const set = this.#pacing.get(key);
    if (!set?.delete(callId)) return;
    if (!set.size) this.#pacing.delete(key);
    this.#pump();
  }

  #unqueue(key: string, call: Call): void {
    const q = this.#queues.get(key);
    if (!q) return;
    const i = q.findIndex((j) => j.call === call);
    if (i >= 0) q.splice(i, 1);
    if (!q.length) this.#queues.delete(key);
  }

  /** Takes every queue's head that the caps allow now, and sets a timer for the next slot. */
  #pump(): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const now = performance.now();
    let wait = Infinity;
    for (const [key, q] of [...this.#queues]) {
      while (q.length) {
        const job = q[0]!;
        if (!this.deps.hasRoom()) {
          wait = Math.min(wait, CAPACITY_RETRY_MS);
          break;
        }
        // Concurrency caps free up when a call ends, which pumps again.
        if ((this.#liveByTenant.get(job.call.identity.tenantId) ?? 0) >= this.deps.tenantMaxCalls) break;
        if (job.line.maxConcurrentCalls !== null && (this.#liveByLine.get(key) ?? 0) >= job.line.maxConcurrentCalls) break;
        // At most this many calls of a line hold a media leg while waiting for their INVITE slot.
        if ((this.#pacing.get(key)?.size ?? 0) >= MAX_PACING) break;
        const slot = Math.max(now, (this.#lastSlot.get(key) ?? -Infinity) + slotGap(job.line));
        // A call leaves the queue at its slot: it holds a media leg only just before its INVITE,
        // and stays cancelable (and visible with its place) in the queue until then.
        if (slot > now) {
          wait = Math.min(wait, slot - now);
          break;
        }
        q.shift();
        this.#lastSlot.set(key, slot);
        this.#start(job);
      }
      if (!q.length) this.#queues.delete(key);
    }
    if (wait !== Infinity) {
      this.#timer = setTimeout(() => this.#pump(), Math.max(1, Math.ceil(wait)));
      this.#timer.unref();
    }
  }

  /**
   * Waits for the line's next INVITE slot and resolves to `sent`, which the caller runs when its
   * INVITE has left (drachtio-srf's request callback) or will not; the next waiter on the line
   * waits for it. Spacing is measured where the INVITE leaves, not where it is planned: a send
   * delayed by a busy moment must not bring the next one closer (the cap is a ceiling: the rate
   * reached is a little under it, by the send latency of each INVITE).
   */
  #pace(line: Line, callId: string, signal: AbortSignal): Promise<() => void> {
    const gap = slotGap(line);
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    let marked = false;
    const sent = () => {
      if (marked) return;
      marked = true;
      this.#lastInvite.set(line.key, performance.now());
      release();
      this.#leavePacing(line.key, callId);
    };
    // A call that ends while it waits gives its place up.
    signal.addEventListener('abort', sent, { once: true });
    const prev = this.#paceChain.get(line.key) ?? Promise.resolve();
    this.#paceChain.set(line.key, done);
    void done.then(() => {
      if (this.#paceChain.get(line.key) === done) this.#paceChain.delete(line.key);
    });
    const ready = prev.then(async () => {
      const wait = (this.#lastInvite.get(line.key) ?? -Infinity) + gap - performance.now();
      if (wait > 0 && !signal.aborted) await new Promise((resolve) => setTimeout(resolve, wait));
      return sent;
    });
    return untilAborted(ready, signal);
  }

  /** A job out of the queue: counted live, admitted to call control, its steps run. */
  #start(job: Job): void {
    const { call, ctx, line } = job;
    const tenantId = call.identity.tenantId;
    bump(this.#liveByLine, line.key, 1);
    bump(this.#liveByTenant, tenantId, 1);
    const pacing = this.#pacing.get(line.key) ?? new Set<string>();
    this.#pacing.set(line.key, pacing.add(call.id));
    call.once('ended', () => {
      bump(this.#liveByLine, line.key, -1);
      bump(this.#liveByTenant, tenantId, -1);
      this.#leavePacing(line.key, call.id);
      this.#pump();
    });
    call.transition('trying', 'dialling');
    this.deps.admit(call);
    runSteps(ctx, ctx.callee.kind === 'user' ? userCallSteps : outboundSteps).catch((err: unknown) => {
      call.log.error({ err }, 'call step failed');
      call.hangup('engine_error');
    });
  }

  /**
   * A test key's call: no INVITE, no media. It walks queued → ringing (at once) → in_progress
   * (after `TEST_CALL_TIMING.ringMs`) → completed (after `talkMs` more; ended by the callee, SIP
   * code 200), with the same events and records as a real call, so an integration sees the whole
   * life of a call without reaching a carrier. DELETE while it rings cancels it.
   */
  #simulate(ctx: OutboundContext): void {
    const { call, deps } = ctx;
    call.transition('trying', 'test call: no INVITE');
    call.transition('ringing', 'test call');
    deps.events.transaction(() => {
      deps.store.calls.markRinging(call.id);
      deps.events.append('call.ringing', ctx.scope, { callId: call.id, agentId: call.identity.agentId });
    });
    call.timer(TEST_CALL_TIMING.ringMs, () => {
      call.transition('answered', 'test call');
      ctx.sipCode = 200;
      recordAnswered(deps, call);
      call.timer(TEST_CALL_TIMING.talkMs, () => call.end({ reason: 'callee_hangup', hangupBy: 'callee' }));
    });
  }
}

/** Milliseconds between two INVITEs on the line (0 without a CPS cap). */
function slotGap(line: Line): number {
  return line.cpsLimit ? 1000 / line.cpsLimit : 0;
}

function bump(m: Map<string, number>, key: string, by: number): void {
  const n = (m.get(key) ?? 0) + by;
  if (n > 0) m.set(key, n);
  else m.delete(key);
}

