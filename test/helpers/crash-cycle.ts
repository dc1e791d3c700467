/**
 * One crash of the engine under load, as an adversary would time it, and the checks the
 * hardening issue asks for afterwards. SIPp places concurrent calls with RTP; an SSE client
 * records every event it is sent (an event is written before it is announced, so each one it
 * received was acknowledged) and a poller records every call `GET /api/v1/calls` showed; the
 * engine is SIGKILLed at a moment chosen by counting events; the file is checked read-only, the
 * engine restarted on it, and the file checked again against everything that was acknowledged.
 * Breaches are returned as sentences (none: the cycle held), with the run's figures.
 */
import { SseStream } from '../api/realtime/sse-client.js';
import type { CrashEngine, DbCall, DbView } from './crash-engine.js';
import { request } from './http.js';
import { scenario } from './inbound.js';
import { runSipp } from './sipp.js';

/** When to kill: after the n-th event of a type (`call.started`: during set-up, ...). */
interface Moment {
  name: 'setup' | 'media' | 'teardown';
  type: 'call.started' | 'call.answered' | 'call.ended';
  n: number;
}

/** How long after spawning the restarted engine it is killed again: 100-3000 ms (ready takes ~2 s), varied by cycle. */
const restartKillMs = (cycle: number) => 100 + ((cycle * 379) % 2900);

/** The three moments, varied by cycle number so a run of cycles covers each phase at several depths. */
function momentFor(cycle: number, calls: number): Moment {
  const depth = (k: number) => 1 + (((cycle + 1) * k) % (calls - 1));
  switch (cycle % 3) {
    case 0:
      return { name: 'setup', type: 'call.started', n: depth(17) };
    case 1:
      return { name: 'media', type: 'call.answered', n: calls };
    default:
      return { name: 'teardown', type: 'call.ended', n: depth(13) };
  }
}

export interface CycleReport {
  moment: string;
  /** The kill came at the moment (not at the trigger's time limit). */
  onTime: boolean;
  placed: number;
  /** Calls SIPp got a 200 for. */
  answered: number;
  eventsAcked: number;
  callsSeenByApi: number;
  openAtKill: number;
  closedAsRestart: number;
  workers: number;
  workersLeft: number;
  /** The restart killed in turn (`restartKillMs` after its spawn) had already become ready. */
  restartKillMs: number;
  restartKilledReady: boolean;
  /** The restart killed in turn had already closed the first kill's orphans (its recovery transaction committed). */
  restartKilledRecovered: boolean;
  /** Spawn of the final restart to its `/health/ready`. */
  recoveryMs: number;
  /** BYEs of calls the crash cut that the restarted engine answered 481. */
  bye481: number;
  violations: string[];
}

/** One line of figures for a cycle. */
export const figures = (r: CycleReport) =>
  `${r.moment}: placed ${r.placed}, answered ${r.answered}, events acknowledged ${r.eventsAcked}, calls seen by the API ${r.callsSeenByApi}, ` +
  `open at the kill ${r.openAtKill} (closed as engine_restart ${r.closedAsRestart}), BYEs answered 481 ${r.bye481}, ` +
  `workers killed ${r.workers} (left ${r.workersLeft}), restart killed at ${r.restartKillMs} ms ` +
  `(${r.restartKilledRecovered ? 'after' : 'before'} recovery, ${r.restartKilledReady ? 'after' : 'before'} ready), ` +
  `restart -> ready ${r.recoveryMs} ms, violations ${r.violations.length}`;

interface Seen {
  answeredAt: string | null;
  endedAt: string | null;
  endReason: string | null;
}

/** The engine's heartbeat period (1 s) and room for a late timer on a loaded machine. */
const heartbeatSlackMs = 1500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One crash cycle on a running engine; the engine is running again when it resolves. */
export async function crashCycle(e: CrashEngine, o: { cycle: number; calls: number; rate: number }): Promise<CycleReport> {
  const moment = momentFor(o.cycle, o.calls);
  const violations: string[] = [];
  const sse = await SseStream.open(`${e.base}/api/v1/events`, e.headers);
  if (sse.status !== 200) throw new Error(`event stream answered ${sse.status}`);
  const seen = new Map<string, Seen>();
  const stopPolling = pollCalls(e, seen);
  const sipp = runSipp({
    transport: 'u1',
    target: `127.0.0.1:${e.sipPort}`,
    scenario: scenario('crash-call.xml', { minHoldMs: 2500, maxHoldMs: 5000 }),
    calls: o.calls,
    timeoutSeconds: 60,
    args: ['-l', String(o.calls), '-r', String(o.rate), '-recv_timeout', '6000', '-mi', '127.0.0.1'],
  });

  const count = () => sse.events().filter((ev) => ev.type === moment.type).length;
  const onTime = await sse.until(() => count() >= moment.n, 20_000).then(
    () => true,
    () => false,
  );
  const killedAt = Date.now();
  const kill = await e.kill();
  await stopPolling();
  await sse.close();
  const acked = sse.events();

  const afterKill = e.view();
  if (afterKill.integrity !== 'ok') violations.push(`integrity_check after the kill: ${afterKill.integrity}`);
  const open = afterKill.calls.filter((c) => c.ended_at === null);
  // The restart crashes too, at a different point of start-up each cycle.
  const restartKill = await e.startAndKill(restartKillMs(o.cycle));
  const midway = e.view();
  if (midway.integrity !== 'ok') violations.push(`integrity_check after the kill during start-up: ${midway.integrity}`);
  if (restartKill.workersLeft) violations.push(`${restartKill.workersLeft} media workers outlived the engine killed during start-up`);
  const recoveryMs = await e.start();
  const restarted = e.view();
  if (restarted.integrity !== 'ok') violations.push(`integrity_check after the restart: ${restarted.integrity}`);
  violations.push(...closedOnRestart(afterKill, restarted, open), ...endedWhenKilled(restarted, open, killedAt));
  violations.push(...ackedEventsKept(acked, restarted));
  violations.push(...apiCallsKept(seen, restarted));

  const run = await sipp;
  const trace = sippTrace(run.messages);
  // Calls INVITE retransmissions placed on the restarted engine end by BYE or RTP inactivity.
  for (let end = Date.now() + 10_000; Date.now() < end && e.view().calls.some((c) => c.ended_at === null); ) await sleep(200);
  const final = e.view();
  for (const id of trace.answered) {
    const rows = final.calls.filter((c) => c.sip_call_id === id);
    if (!rows.some((c) => c.answered_at !== null)) violations.push(`SIPp got 200 for ${id} but no answered call row has that Call-ID`);
  }
  violations.push(...timelinesWhole(final));

  return {
    moment: `${moment.name} (${moment.type} #${moment.n})`,
    onTime,
    placed: trace.placed,
    answered: trace.answered.size,
    eventsAcked: acked.length,
    callsSeenByApi: seen.size,
    openAtKill: open.length,
    closedAsRestart: restarted.calls.filter((c) => c.end_reason === 'engine_restart' && open.some((o) => o.id === c.id)).length,
    workers: kill.workers,
    workersLeft: kill.workersLeft,
    restartKillMs: restartKillMs(o.cycle),
    restartKilledReady: restartKill.wasReady,
    restartKilledRecovered: open.every((o) => midway.calls.find((c) => c.id === o.id)?.ended_at !== null),
    recoveryMs: Math.round(recoveryMs),
    bye481: trace.bye481,
    violations: kill.workersLeft ? [`${kill.workersLeft} media workers outlived the engine`, ...violations] : violations,
  };
}

/** Polls the calls API until stopped, keeping the last state shown of each call. */
function pollCalls(e: CrashEngine, seen: Map<string, Seen>): () => Promise<void> {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const r = await request<{ items: (Seen & { id: string })[] }>(e.base, 'GET', '/api/v1/calls?limit=100', { headers: e.headers });
        if (r.status === 200) for (const c of r.body.items) seen.set(c.id, { answeredAt: c.answeredAt, endedAt: c.endedAt, endReason: c.endReason });
      } catch {
        // the engine is gone: what was seen before stands
      }
      await sleep(100);
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

/** Every call is closed with a reason; those the crash left open, as `engine_restart` by the system. */
function closedOnRestart(before: DbView, after: DbView, open: DbCall[]): string[] {
  const out: string[] = [];
  const now = new Map(after.calls.map((c) => [c.id, c]));
  for (const c of before.calls) {
    const r = now.get(c.id);
    if (!r) out.push(`call ${c.id} in the file at the kill is gone after the restart`);
    else if (r.ended_at === null || r.end_reason === null) out.push(`call ${c.id} still open after the restart (${r.status})`);
  }
  for (const c of open) {
    const r = now.get(c.id);
    if (r && (r.end_reason !== 'engine_restart' || r.hangup_by !== 'system')) out.push(`orphan ${c.id} closed as ${r.end_reason}/${r.hangup_by}`);
  }
  return out;
}

/**
 * A call the crash cut ends when the process died (its last heartbeat, at most a second before
 * the kill), not when the next one started (the downtime is not talk time) nor long before.
 */
function endedWhenKilled(after: DbView, open: DbCall[], killedAt: number): string[] {
  const latest = new Date(killedAt + heartbeatSlackMs).toISOString();
  const earliest = new Date(killedAt - heartbeatSlackMs).toISOString();
  const out: string[] = [];
  for (const o of open) {
    const r = after.calls.find((c) => c.id === o.id);
    if (!r?.ended_at) continue;
    if (r.ended_at > latest || r.ended_at < earliest) out.push(`orphan ${r.id} ended at ${r.ended_at}, not at the kill (${new Date(killedAt).toISOString()})`);
    if (r.answered_at && r.ended_at < r.answered_at) out.push(`orphan ${r.id} ended at ${r.ended_at}, before its answer at ${r.answered_at}`);
  }
  return out;
}

/** Each event sent to the client is in the log with the same id, type and call, in order, with no gap. */
function ackedEventsKept(acked: ReturnType<SseStream['events']>, view: DbView): string[] {
  const out: string[] = [];
  if (!acked.length) return out;
  const byId = new Map(view.events.map((ev) => [ev.id, ev]));
  acked.forEach((a, i) => {
    if (i > 0 && a.id <= acked[i - 1]!.id) out.push(`event ${a.id} arrived after ${acked[i - 1]!.id}`);
    const row = byId.get(a.id);
    if (!row) out.push(`acknowledged event ${a.id} (${a.type}) lost`);
    else if (row.type !== a.type || row.call_id !== a.callId) out.push(`event ${a.id} was ${a.type}/${a.callId}, is ${row.type}/${row.call_id}`);
  });
  const first = acked[0]!.id;
  const last = acked.at(-1)!.id;
  const between = view.events.filter((ev) => ev.tenant_id === acked[0]!.tenantId && ev.id >= first && ev.id <= last);
  if (between.length !== acked.length) out.push(`the log has ${between.length} events in ${first}..${last}, the stream sent ${acked.length}`);
  return out;
}

/** Each call the API showed is still there, and what it showed (answered, ended) still holds. */
function apiCallsKept(seen: Map<string, Seen>, view: DbView): string[] {
  const out: string[] = [];
  const rows = new Map(view.calls.map((c) => [c.id, c]));
  for (const [id, s] of seen) {
    const r = rows.get(id);
    if (!r) out.push(`call ${id} shown by the API is lost`);
    else if (s.answeredAt && r.answered_at !== s.answeredAt) out.push(`call ${id} was shown answered at ${s.answeredAt}, is ${r.answered_at}`);
    else if (s.endedAt && (r.ended_at !== s.endedAt || r.end_reason !== s.endReason)) out.push(`call ${id} was shown ended (${s.endReason}), is ${r.end_reason}`);
  }
  return out;
}

/** Every call has one `call.started`, one `call.answered` if it was answered, and once closed one `call.ended` with its end reason. */
export function timelinesWhole(view: DbView): string[] {
  const out: string[] = [];
  const byCall = new Map<string, { type: string; data: string }[]>();
  for (const ev of view.events) if (ev.call_id) byCall.set(ev.call_id, [...(byCall.get(ev.call_id) ?? []), ev]);
  for (const c of view.calls) {
    const evs = byCall.get(c.id) ?? [];
    const started = evs.filter((ev) => ev.type === 'call.started').length;
    if (started !== 1) out.push(`call ${c.id} has ${started} call.started events`);
    const answered = evs.filter((ev) => ev.type === 'call.answered').length;
    if (answered !== (c.answered_at === null ? 0 : 1)) out.push(`call ${c.id} (answered at ${c.answered_at}) has ${answered} call.answered events`);
    if (c.ended_at === null) continue;
    const ended = evs.filter((ev) => ev.type === 'call.ended');
    const reason = ended.length === 1 ? (JSON.parse(ended[0]!.data) as { endReason?: string }).endReason : undefined;
    if (ended.length !== 1 || reason !== c.end_reason) out.push(`call ${c.id} (${c.end_reason}) has ${ended.length} call.ended events${reason ? ` (${reason})` : ''}`);
  }
  return out;
}

/** From SIPp's message trace: INVITEs placed (by Call-ID), those answered 200, BYEs answered 481. */
function sippTrace(log: string): { placed: number; answered: Set<string>; bye481: number } {
  const placed = new Set<string>();
  const answered = new Set<string>();
  const bye481 = new Set<string>();
  for (const block of log.split(/^-{10,}.*$/m)) {
    const dir = /(?:UDP|TCP) message (sent|received)/.exec(block)?.[1];
    const start = /^\s*(SIP\/2\.0 (\d{3})|INVITE )/m.exec(block);
    const callId = /^\s*Call-ID:\s*(\S+)/im.exec(block)?.[1];
    const method = /^\s*CSeq:\s*\d+\s+(\w+)/im.exec(block)?.[1];
    if (!dir || !start || !callId) continue;
    if (dir === 'sent' && !start[2]) placed.add(callId);
    if (dir === 'received' && start[2] === '200' && method === 'INVITE') answered.add(callId);
    if (dir === 'received' && start[2] === '481' && method === 'BYE') bye481.add(callId);
  }
  return { placed: placed.size, answered, bye481: bye481.size };
}
