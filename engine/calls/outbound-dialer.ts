/**
 * Outbound calls (`POST /api/v1/calls`): recorded `queued` at once, then placed through their
 * trunk's gateway as the caps allow. Caps queue, they never drop:
 *
 * - the trunk's `cpsLimit`: INVITEs on one trunk leave at least 1/cpsLimit s apart (a call leaves
 *   the queue at its slot; its INVITE then waits until 1/cpsLimit s after the last one sent);
 * - the trunk's `maxConcurrentCalls`: live outbound calls (dialling or answered) on the trunk;
 * - `tenantMaxCalls` (engine setting): live outbound calls of one tenant, all trunks;
 * - the engine's own capacity (`maxCalls`, shared with inbound calls).
 *
 * A queued call can be canceled (status `canceled`) or is ended `shutdown` when the engine stops:
 * nothing stays `queued` after a clean stop (after a crash, orphans.ts closes it at start-up).
 * Calls of test keys (`mode` test) never reach SIP: see `simulate`.
 */
import type { Mode } from '../store/mode.js';
import type { SipTrunk } from '../store/repositories/sip-trunks.js';
import { Call } from './call.js';
import { recordAnswered, recordEnd } from './call-end.js';
import { runSteps, untilAborted } from './call-steps.js';
import { outboundSteps, type OutboundContext, type OutboundDeps } from './outbound-steps.js';
import type { ResolvedTarget } from './transfer-target.js';

/** A call to place, as the API validated it. */
export interface PlaceRequest {
  tenantId: string;
  mode: Mode;
  agentId: string;
  trunk: SipTrunk;
  /** As given (E.164 or sip: URI), and as resolved on the trunk's gateway. */
  to: string;
  target: ResolvedTarget;
  /** The caller id (From user): the request's `from`, else the trunk's `callerId`. */
  from: string | null;
  headers: Record<string, string>;
  ringTimeoutSeconds: number;
  variables: Record<string, unknown>;
}

/** Where a queued call stands; null once it has left the queue. */
export interface QueueInfo {
  /** 1 = next on its trunk. */
  position: number;
  /**
   * The earliest start the trunk's CPS cap allows (ISO 8601): a lower bound while a concurrency
   * cap holds the queue back.
   */
  estimatedStartAt: string;
}

export type CancelResult = 'canceled' | 'answered' | 'not_live';

export interface DialerDeps extends OutboundDeps {
  /** Live outbound calls one tenant may have at once (all its trunks). */
  tenantMaxCalls: number;
  /** Whether the engine has room for one more call (its `maxCalls`). */
  hasRoom(): boolean;
  /** Registers a dialled call with call control (capacity, shutdown, API hangup). */
  admit(call: Call): void;
  /** Work that must finish before shutdown (the final record of a call). */
  settle(work: Promise<void>): void;
}

interface Job {
  call: Call;
  ctx: OutboundContext;
  trunk: SipTrunk;
}

/**
 * Calls of one trunk that may hold a media leg while they wait for their INVITE slot: enough to
 * keep the pace when making a leg takes a while, few enough that a slow send path does not pile
 * legs up behind it.
 */
const MAX_PACING = 2;
/** The engine retries a queue held back by its own capacity this often (no event frees it). */
const CAPACITY_RETRY_MS = 250;
/** A test call's ring, then its talk time: short enough for a test suite, long enough to be seen. */
export const TEST_CALL_TIMING = { ringMs: 200, talkMs: 1000 } as const;

export class OutboundDialer {
  /** Waiting calls per trunk, oldest first. */
  readonly #queues = new Map<string, Job[]>();
  /** Live (dialling or answered) outbound calls per trunk and per tenant. */
  readonly #liveByTrunk = new Map<string, number>();
  readonly #liveByTenant = new Map<string, number>();
  /** The last slot given to a call leaving the queue, per trunk (`performance.now()` ms). */
  readonly #lastSlot = new Map<string, number>();
  /** When the last INVITE left, per trunk, and the chain of INVITEs waiting for their slot. */
  readonly #lastInvite = new Map<string, number>();
  readonly #paceChain = new Map<string, Promise<void>>();
  /** Calls per trunk out of the queue whose INVITE has not left yet (making their leg, or waiting for their slot). */
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
    const toNumber = r.to.startsWith('+') ? r.to : null;
    const id = deps.events.transaction(() => {
      const row = deps.store.calls.create({
        ...scope,
        direction: 'outbound',
        status: 'queued',
        fromUri: null,
        toUri: r.target.uri,
        fromNumber: r.from,
        toNumber,
        trunkId: r.trunk.id,
        agentId: r.agentId,
        workflowId: workflow?.id ?? null,
        workflowVersion: workflow?.version ?? null,
        metadata: { variables: r.variables, headers: r.headers, ringTimeoutSeconds: r.ringTimeoutSeconds },
      });
      deps.events.append('call.started', { ...scope, callId: row.id }, {
        callId: row.id,
        agentId: r.agentId,
        direction: 'outbound',
        from: { uri: null, number: r.from },
        to: { uri: r.target.uri, number: toNumber },
        trunkId: r.trunk.id,
        sipCallId: null,
      });
      return row.id;
    });
    const log = deps.log.child({ callId: id, direction: 'outbound' });
    const call = new Call({ id, tenantId: r.tenantId, mode: r.mode, agentId: r.agentId, sipCallId: '' }, log, performance.now(), 'queued');
    const ctx: OutboundContext = {
      call,
      deps,
      log,
      scope: { ...scope, callId: id },
      target: r.target,
      callingNumber: r.from,
      headers: r.headers,
      ringMs: r.ringTimeoutSeconds * 1000,
      pace: (signal) => this.#pace(r.trunk, id, signal),
      sipCode: null,
      workflow,
      direction: 'outbound',
      facts: { callId: id, agentId: r.agentId, caller: r.from, callee: toNumber ?? r.to, trunkId: r.trunk.id, headers: r.headers, variables: r.variables },
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
    log.info({ trunkId: r.trunk.id, to: r.target.uri, mode: r.mode }, 'outbound call queued');
    if (r.mode === 'test') {
      this.#simulate(ctx);
      return id;
    }
    const q = this.#queues.get(r.trunk.id) ?? [];
    q.push({ call, ctx, trunk: r.trunk });
    this.#queues.set(r.trunk.id, q);
    call.once('ended', () => this.#unqueue(r.trunk.id, call));
    this.#pump();
    return id;
  }

  /** Where a queued call stands, or null when it is not queued (here). */
  queueInfo(callId: string): QueueInfo | null {
    for (const [trunkId, q] of this.#queues) {
      const i = q.findIndex((j) => j.call.id === callId);
      if (i < 0) continue;
      const gap = slotGap(q[i]!.trunk);
      const now = performance.now();
      const first = Math.max(now, (this.#lastSlot.get(trunkId) ?? -Infinity) + gap);
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

  /** A call's INVITE has left (or never will): another call of the trunk may make its leg. */
  #leavePacing(trunkId: string, callId: string): void {
    const set = this.#pacing.get(trunkId);
    if (!set?.delete(callId)) return;
    if (!set.size) this.#pacing.delete(trunkId);
    this.#pump();
  }

  #unqueue(trunkId: string, call: Call): void {
    const q = this.#queues.get(trunkId);
    if (!q) return;
    const i = q.findIndex((j) => j.call === call);
    if (i >= 0) q.splice(i, 1);
    if (!q.length) this.#queues.delete(trunkId);
  }

  /** Takes every queue's head that the caps allow now, and sets a timer for the next slot. */
  #pump(): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const now = performance.now();
    let wait = Infinity;
    for (const [trunkId, q] of [...this.#queues]) {
      while (q.length) {
        const job = q[0]!;
        if (!this.deps.hasRoom()) {
          wait = Math.min(wait, CAPACITY_RETRY_MS);
          break;
        }
        // Concurrency caps free up when a call ends, which pumps again.
        if ((this.#liveByTenant.get(job.call.identity.tenantId) ?? 0) >= this.deps.tenantMaxCalls) break;
        if (job.trunk.maxConcurrentCalls !== null && (this.#liveByTrunk.get(trunkId) ?? 0) >= job.trunk.maxConcurrentCalls) break;
        // At most this many calls of a trunk hold a media leg while waiting for their INVITE slot.
        if ((this.#pacing.get(trunkId)?.size ?? 0) >= MAX_PACING) break;
        const slot = Math.max(now, (this.#lastSlot.get(trunkId) ?? -Infinity) + slotGap(job.trunk));
        // A call leaves the queue at its slot: it holds a media leg only just before its INVITE,
        // and stays cancelable (and visible with its place) in the queue until then.
        if (slot > now) {
          wait = Math.min(wait, slot - now);
          break;
        }
        q.shift();
        this.#lastSlot.set(trunkId, slot);
        this.#start(job);
      }
      if (!q.length) this.#queues.delete(trunkId);
    }
    if (wait !== Infinity) {
      this.#timer = setTimeout(() => this.#pump(), Math.max(1, Math.ceil(wait)));
      this.#timer.unref();
    }
  }

  /**
   * Waits for the trunk's next INVITE slot and resolves to `sent`, which the caller runs when its
   * INVITE has left (drachtio-srf's request callback) or will not; the next waiter on the trunk
   * waits for it. Spacing is measured where the INVITE leaves, not where it is planned: a send
   * delayed by a busy moment must not bring the next one closer (the cap is a ceiling: the rate
   * reached is a little under it, by the send latency of each INVITE).
   */
  #pace(trunk: SipTrunk, callId: string, signal: AbortSignal): Promise<() => void> {
    const gap = slotGap(trunk);
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    let marked = false;
    const sent = () => {
      if (marked) return;
      marked = true;
      this.#lastInvite.set(trunk.id, performance.now());
      release();
      this.#leavePacing(trunk.id, callId);
    };
    // A call that ends while it waits gives its place up.
    signal.addEventListener('abort', sent, { once: true });
    const prev = this.#paceChain.get(trunk.id) ?? Promise.resolve();
    this.#paceChain.set(trunk.id, done);
    void done.then(() => {
      if (this.#paceChain.get(trunk.id) === done) this.#paceChain.delete(trunk.id);
    });
    const ready = prev.then(async () => {
      const wait = (this.#lastInvite.get(trunk.id) ?? -Infinity) + gap - performance.now();
      if (wait > 0 && !signal.aborted) await new Promise((resolve) => setTimeout(resolve, wait));
      return sent;
    });
    return untilAborted(ready, signal);
  }

  /** A job out of the queue: counted live, admitted to call control, its steps run. */
  #start(job: Job): void {
    const { call, ctx, trunk } = job;
    const tenantId = call.identity.tenantId;
    bump(this.#liveByTrunk, trunk.id, 1);
    bump(this.#liveByTenant, tenantId, 1);
    const pacing = this.#pacing.get(trunk.id) ?? new Set<string>();
    this.#pacing.set(trunk.id, pacing.add(call.id));
    call.once('ended', () => {
      bump(this.#liveByTrunk, trunk.id, -1);
      bump(this.#liveByTenant, tenantId, -1);
      this.#leavePacing(trunk.id, call.id);
      this.#pump();
    });
    call.transition('trying', 'dialling');
    this.deps.admit(call);
    runSteps(ctx, outboundSteps).catch((err: unknown) => {
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

/** Milliseconds between two INVITEs on the trunk (0 without a CPS cap). */
function slotGap(trunk: SipTrunk): number {
  return trunk.cpsLimit ? 1000 / trunk.cpsLimit : 0;
}

function bump(m: Map<string, number>, key: string, by: number): void {
  const n = (m.get(key) ?? 0) + by;
  if (n > 0) m.set(key, n);
  else m.delete(key);
}

