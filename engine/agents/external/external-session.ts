/**
 * An agent of kind `websocket` on one answered call: the engine opens a WebSocket to the agent's
 * URL, sends `start`, streams the caller's audio and keys to it, plays what comes back, and obeys
 * its commands (protocol.ts). Nothing the agent sends can end the process: a bad message is an
 * `error` message back and a log line; a socket that fails is one reconnection, then the end of
 * the call with a reason.
 *
 * The connection's life is a table (`connectionMoves`): `connecting` -> `open` -> (a drop)
 * `reconnecting` -> `reopened` -> (a second drop) `closed`. A first connection that fails ends the
 * call `agent_unreachable`; a drop once the reconnection was used, or a failed reconnection, ends
 * it `agent_disconnected`. The call ending, or being handed over by a transfer, closes it with a
 * `stop` message.
 */
import WebSocket from 'ws';
import type { Logger } from '../../../config/logger.js';
import type { LegAudio } from '../../../media/audio/leg-audio.js';
import { CallActionRefused, type Call, type CallActions } from '../../calls/call.js';
import type { EndReason } from '../../calls/call-record.js';
import { reportRfc4733 } from '../../calls/dtmf-in.js';
import type { EventLog } from '../../events/event-log.js';
import type { Store } from '../../store/store.js';
import type { AgentConfig } from '../agent-config.js';
import { runtimeDefaults } from '../runtime/session.js';
import { initialVars, type CallFacts } from '../runtime/variables.js';
import { openAgentSocket } from './agent-socket.js';
import { ExternalPlayout } from './playout.js';
import {
  decodeAudio,
  encodeFrame,
  externalLimits,
  mediaOf,
  PROTOCOL_VERSION,
  readAgentText,
  type AgentMessage,
  type EngineMessage,
  type ExternalAudioFormat,
  type ExternalLimits,
} from './protocol.js';

/** The connection's states; see the file's comment. */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'reopened' | 'closed';

export const connectionMoves: Readonly<Record<ConnectionState, readonly ConnectionState[]>> = {
  connecting: ['open', 'closed'],
  open: ['reconnecting', 'closed'],
  reconnecting: ['reopened', 'closed'],
  reopened: ['closed'],
  closed: [],
};

/** What an external plan carries (runtime.ts settles it when the call starts). */
export interface ExternalPlan {
  kind: 'external';
  config: AgentConfig;
  websocket: NonNullable<AgentConfig['websocket']>;
  facts: CallFacts;
  direction: 'inbound' | 'outbound';
}

/** Unsent bytes, in multiples of `maxBufferedBytes`, past which an agent's socket is cut. */
const BEHIND_FACTOR = 16;

export interface ExternalDeps {
  store: Store;
  events: EventLog;
  sendDtmf?: (call: Call, digits: string, audio: LegAudio) => Promise<void>;
  transfer?: (call: Call, target: string) => Promise<boolean>;
  /** Bounds (tests shorten the connect timeout). */
  limits?: Partial<ExternalLimits>;
}

export class ExternalAgentSession {
  /** Whether a `dtmf` command's digits are being sent (the next is refused until then). */
  #dtmfSending = false;
  #state: ConnectionState = 'connecting';
  #ws: WebSocket | null = null;
  readonly #format: ExternalAudioFormat;
  readonly #playout: ExternalPlayout;
  readonly #limits: ExternalLimits;
  /** Caller frames dropped because the socket's send buffer was full, and whether a drop is under way. */
  #dropped = 0;
  /** Marks that were waiting when the socket dropped: answered `cleared` after the reconnection's `start`. */
  readonly #marksOwed: string[] = [];
  #dropping = false;
  /** Why we close the socket (a `stop` was sent), once we do: its close is then no drop. */
  #stopping: string | null = null;
  /** The target of the transfer under way, if any: a call that ends `transferred` reports it first. */
  #transferring: string | null = null;

  private constructor(
    private readonly deps: ExternalDeps,
    private readonly call: Call,
    private readonly audio: LegAudio,
    private readonly plan: ExternalPlan,
    private readonly log: Logger,
  ) {
    this.#format = plan.websocket.audio ?? 'pcmu';
    this.#limits = { ...externalLimits, ...deps.limits };
    this.#playout = new ExternalPlayout(audio, (name, cleared) => this.#answerMark(name, cleared), this.#limits.maxPlayoutMs);
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Wires the call to the agent and opens the first connection; the call's end closes it all. */
  static start(deps: ExternalDeps, call: Call, plan: ExternalPlan, audio: LegAudio): ExternalAgentSession {
    const s = new ExternalAgentSession(deps, call, audio, plan, call.log.child({ component: 'external-agent' }));
    call.onDispose(() => {
      s.#stop(call.endInfo?.reason ?? 'ended');
      audio.close();
    });
    reportRfc4733(call, audio);
    call.on('dtmf', (d) => s.#onDigit(d.digit, d.durationMs));
    audio.on('frame', (f) => s.#onFrame(f.pcm));
    call.actions = s.#actions();
    const maxMs = plan.config.timeouts?.maxDurationMs ?? runtimeDefaults.maxDurationMs;
    call.timer(maxMs, () => call.end({ reason: 'max_duration', hangupBy: 'system' }));
    s.#connect(false);
    return s;
  }

  /** Moves to `to`; an illegal move is refused and logged. */
  #transition(to: ConnectionState, reason: string): boolean {
    const from = this.#state;
    if (!connectionMoves[from].includes(to)) {
      this.log.warn({ from, to, reason }, 'illegal agent connection transition refused');
      return false;
    }
    this.#state = to;
    this.log.info({ from, to, reason }, 'agent connection');
    if (to === 'closed') this.#playout.close();
    return true;
  }

  // --- The socket ------------------------------------------------------------------------------------

  #connect(reconnect: boolean): void {
    const failed = reconnect ? 'reconnect failed' : 'connect failed';
    const ws = openAgentSocket(this.plan.websocket, this.#limits, {
      open: () => {
        if (this.#ws !== ws || this.#stopping) return void (ws as WebSocket).terminate();
        this.#transition(reconnect ? 'reopened' : 'open', 'connected');
        this.#sendStart(reconnect);
      },
      message: (data, isBinary) => {
        if (this.#ws === ws) this.#onMessage(data, isBinary);
      },
      closed: (opened, why) => {
        if (this.#ws !== ws) return;
        this.#ws = null;
        if (!this.#stopping) this.#lost(opened ? 'dropped' : failed, why);
      },
    });
    if (typeof ws === 'string') {
      // A URL the schema let through but `ws` cannot use: as unreachable as a refused one.
      this.#lost(failed, ws);
      return;
    }
    this.#ws = ws;
  }

  /** A mark reached or cleared; one cleared while the socket is down is answered on the next one, after its `start`. */
  #answerMark(name: string, cleared: boolean): void {
    if (!this.#ws && this.#state === 'reconnecting') this.#marksOwed.push(name);
    else this.#send({ type: 'mark', name, ...(cleared ? { cleared } : {}) });
  }

  #sendStart(reconnect: boolean): void {
    const p = this.plan;
    this.#send({
      type: 'start',
      version: PROTOCOL_VERSION,
      reconnect,
      callId: this.call.id,
      agentId: this.call.identity.agentId,
      direction: p.direction,
      from: p.facts.caller,
      to: p.facts.callee,
      variables: initialVars(p.facts, p.config.variables),
      media: mediaOf(this.#format),
    });
    for (const name of this.#marksOwed.splice(0)) this.#send({ type: 'mark', name, cleared: true });
  }

  /** The socket is gone without our asking: one reconnection, else the end of the call. */
  #lost(what: 'connect failed' | 'reconnect failed' | 'dropped', why: string): void {
    if (this.call.signal.aborted || this.#state === 'closed') return;
    this.log.warn({ what, why }, 'agent connection lost');
    if (what === 'dropped' && this.#state === 'open') {
      this.#recordError('agent_dropped', `the agent's socket dropped (${why}); reconnecting once`);
      this.#transition('reconnecting', why);
      this.#playout.clear(); // its waiting marks are owed to the next socket
      this.#connect(true);
      return;
    }
    this.#playout.clear();
    const reason: EndReason = what === 'connect failed' ? 'agent_unreachable' : 'agent_disconnected';
    this.#recordError(reason, what === 'connect failed' ? `the agent could not be reached: ${why}` : `the agent's socket was lost again (${why})`);
    this.#transition('closed', why);
    this.call.end({ reason, hangupBy: 'system' });
  }

  /** Sends `stop` and closes the socket (the call ended or was handed over). Idempotent. */
  #stop(reason: string): void {
    if (this.#stopping) return;
    this.#stopping = reason;
    if (this.#state !== 'closed') this.#transition('closed', reason);
    this.call.actions = null;
    const ws = this.#ws;
    if (!ws) return;
    if (ws.readyState !== WebSocket.OPEN) return void ws.terminate();
    if (this.#transferring && reason === 'transferred') this.#send({ type: 'transfer_result', target: this.#transferring, result: 'transferred' });
    this.#send({ type: 'stop', reason, droppedFrames: this.#dropped });
    ws.close(1000, 'call ended');
    // An agent that never answers our close frame does not hold the socket for ws's 30 s.
    setTimeout(() => ws.terminate(), this.#limits.closeGraceMs).unref();
  }

  /**
   * Sends a JSON message. An `error` answer is skipped while the agent is behind on reading
   * (it is advisory); past `BEHIND_FACTOR` times that, the agent has stopped reading altogether
   * and the socket is cut, which counts as a drop: what we queue for it stays bounded.
   */
  #send(msg: EngineMessage): void {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > this.#limits.maxBufferedBytes * BEHIND_FACTOR) {
      this.log.warn({ bufferedBytes: ws.bufferedAmount }, 'the agent stopped reading: cutting its socket');
      ws.terminate();
      return;
    }
    if (msg.type === 'error' && ws.bufferedAmount > this.#limits.maxBufferedBytes) return;
    ws.send(JSON.stringify(msg), (err) => {
      if (err) this.log.debug({ err: err.message }, 'agent message not sent');
    });
  }

  // --- Call -> agent -----------------------------------------------------------------------------------

  #onFrame(pcm: Int16Array): void {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > this.#limits.maxBufferedBytes) {
      this.#dropped++;
      if (!this.#dropping) this.log.warn({ bufferedBytes: ws.bufferedAmount }, 'the agent is not reading: dropping caller audio');
      this.#dropping = true;
      return;
    }
    if (this.#dropping) this.log.info({ dropped: this.#dropped }, 'the agent reads again');
    this.#dropping = false;
    ws.send(encodeFrame(this.#format, pcm), { binary: true }, (err) => {
      if (err) this.log.debug({ err: err.message }, 'caller frame not sent');
    });
  }

  #onDigit(digit: string, durationMs: number | null): void {
    this.#event('call.dtmf', { digit, ...(durationMs !== null ? { durationMs } : {}) });
    this.#send({ type: 'dtmf', digit, ...(durationMs !== null ? { durationMs } : {}) });
  }

  // --- Agent -> call -----------------------------------------------------------------------------------

  #onMessage(buf: Buffer, isBinary: boolean): void {
    if (this.#stopping) return;
    if (isBinary) return this.#onAudio(buf);
    const msg = readAgentText(buf);
    if ('error' in msg) {
      this.log.debug({ code: msg.error.code }, 'agent message refused');
      return this.#send({ type: 'error', ...msg.error });
    }
    this.#onCommand(msg);
  }

  #onAudio(buf: Buffer): void {
    if (!buf.length) return;
    const pcm = decodeAudio(this.#format, buf);
    if (!pcm) return this.#send({ type: 'error', code: 'bad_audio', message: 'l16 audio must be whole 16-bit samples (an even number of bytes)' });
    if (this.#playout.push(pcm) === 'full') {
      this.#send({ type: 'error', code: 'playout_full', message: `more than ${this.#limits.maxPlayoutMs} ms of audio queued: this audio was dropped` });
    }
  }

  #onCommand(msg: AgentMessage): void {
    switch (msg.type) {
      case 'mark':
        if (this.#playout.pendingMarks >= this.#limits.maxPendingMarks) {
          return this.#send({ type: 'error', code: 'too_many_marks', message: `at most ${this.#limits.maxPendingMarks} marks may wait` });
        }
        return this.#playout.mark(msg.name);
      case 'clear':
        return this.#playout.clear();
      case 'hangup':
        if (msg.reason) this.#note(`hangup: ${msg.reason}`);
        this.call.end({ reason: 'agent_hangup', hangupBy: 'agent' });
        return;
      case 'transfer':
        return void this.#transfer(msg.target);
      case 'dtmf':
        // One send at a time: each is a run of RTP events or SIP INFOs toward the caller.
        if (this.#dtmfSending) return this.#send({ type: 'error', code: 'refused', message: 'DTMF is being sent: wait for it to finish' });
        this.#dtmfSending = true;
        return void this.#sendDtmf(msg.digits)
          .catch((err: unknown) => this.#send({ type: 'error', code: 'dtmf_failed', message: (err as Error).message.slice(0, 500) }))
          .finally(() => (this.#dtmfSending = false));
    }
  }

  async #sendDtmf(digits: string): Promise<void> {
    if (!this.deps.sendDtmf) throw new CallActionRefused('sending DTMF is not available on this call');
    await this.deps.sendDtmf(this.call, digits, this.audio);
  }

  async #transfer(target: string): Promise<void> {
    if (!this.deps.transfer) return this.#send({ type: 'error', code: 'refused', message: 'transfer is not available on this call' });
    if (this.#transferring) return this.#send({ type: 'error', code: 'refused', message: 'a transfer is under way' });
    this.#transferring = target;
    let done = false;
    try {
      done = await this.deps.transfer(this.call, target);
    } catch (err) {
      this.log.error({ err }, 'transfer failed');
      this.#recordError('transfer_failed', (err as Error).message);
    } finally {
      this.#transferring = null;
    }
    if (this.#stopping) return;
    this.#note(done ? `transferred to ${target}` : `transfer to ${target} failed`);
    this.#send({ type: 'transfer_result', target, result: done ? 'transferred' : 'failed' });
    // Handed over (the caller left us, or talks to the target through our bridge): the agent is done.
    if (done) this.#stop('transferred');
  }

  // --- REST and WebSocket actions --------------------------------------------------------------------

  #actions(): CallActions {
    return {
      say: () => {
        throw new CallActionRefused('this agent runs over WebSocket and speaks for itself: say is for built-in agents');
      },
      sendDtmf: (digits) => {
        if (!this.deps.sendDtmf) throw new CallActionRefused('sending DTMF is not available on this call');
        void this.#sendDtmf(digits).catch((err: unknown) => this.#recordError('dtmf_failed', (err as Error).message));
      },
      setMuted: (muted) => this.#playout.setMuted(muted),
      transfer: (target) => {
        if (!this.deps.transfer) throw new CallActionRefused('transfer is not available on this call');
        void this.#transfer(target);
      },
    };
  }

  // --- Records ---------------------------------------------------------------------------------------

  #note(text: string): void {
    this.call.transcript.push({ role: 'system', text, at: new Date().toISOString() });
  }

  #event(type: 'call.dtmf', data: { digit: string; durationMs?: number }): void {
    if (this.call.signal.aborted) return;
    const scope = { tenantId: this.call.identity.tenantId, mode: this.call.identity.mode, callId: this.call.id };
    try {
      this.deps.events.append(type, scope, { callId: this.call.id, agentId: this.call.identity.agentId, ...data });
    } catch (err) {
      this.log.error({ err, type }, 'event not recorded');
    }
  }

  /** An error log row and a `call.error` event (kind `provider`: the agent is the tenant's service). */
  #recordError(code: string, message: string): void {
    const { tenantId, mode } = this.call.identity;
    try {
      this.deps.store.errorLogs.record({ tenantId, mode, kind: 'provider', callId: this.call.id, code, message, details: { provider: 'websocket' } });
      this.deps.events.append('call.error', { tenantId, mode, callId: this.call.id }, { callId: this.call.id, agentId: this.call.identity.agentId, source: 'provider', code, message });
    } catch (err) {
      this.log.error({ err }, 'error not recorded');
    }
  }
}
