/**
 * The engine's handle on the embedded SIP server running in a worker thread (server-thread.ts):
 * starts it, asks it for health, stops it. The thread owns the SIP transports, transactions,
 * dialogs and the drachtio control port; call control reaches it over TCP loopback.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../config/logger.js';
import type { Config } from '../../config/schema.js';
import type { ComponentHealth } from '../health/health.js';
import type { SipStackMetrics } from './sip-stack.js';
import { WsBridgeGateway, type WsFromThread, type WsToThread } from './transport/ws-bridge.js';
import type { WsGateway } from './transport/ws-transport.js';

export type ThreadRequest = { type: 'health'; id: number } | { type: 'metrics'; id: number } | { type: 'stop' } | WsToThread;
export type ThreadReply =
  | WsFromThread
  | { type: 'listening'; port: number }
  | { type: 'failed'; message: string }
  | { type: 'health'; id: number; health: ComponentHealth }
  | { type: 'metrics'; id: number; metrics: SipStackMetrics };

/** An answer the engine waits for: health or metrics (null when the thread is gone). */
type Pending = { kind: 'health'; answer: (h: ComponentHealth) => void } | { kind: 'metrics'; answer: (m: SipStackMetrics | null) => void };

/** Long enough for the stack to close its transports and flush its logs. */
const stopTimeoutMs = 3000;

export class SipThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #exited = false;
  readonly #exit: Promise<void>;
  /** The drachtio control port the thread serves. */
  port = 0;
  /** SIP over WebSocket: the sockets stay on this loop, their messages cross to the thread's transport. */
  readonly #ws: WsBridgeGateway;

  private constructor(config: Pick<Config, 'sip' | 'log'>, log: Logger) {
    this.#worker = new Worker(new URL('./server-thread.js', import.meta.url), { workerData: { sip: config.sip, log: config.log } });
    this.#ws = new WsBridgeGateway((m, transfer) => {
      if (!this.#exited) this.#worker.postMessage(m satisfies ThreadRequest, transfer ?? []);
    });
    this.#exit = new Promise((resolve) =>
      this.#worker.once('exit', (code) => {
        this.#exited = true;
        this.#ws.closeAll(1001, 'sip thread exited');
        if (code !== 0) log.error({ code }, 'sip thread exited');
        for (const p of this.#pending.values()) {
          if (p.kind === 'health') p.answer({ status: 'down', error: 'sip thread exited' });
          else p.answer(null);
        }
        this.#pending.clear();
        resolve();
      }),
    );
    this.#worker.on('error', (err) => log.error({ err }, 'sip thread failed'));
    this.#worker.on('message', (m: ThreadReply) => {
      if (m.type === 'ws-send' || m.type === 'ws-close') {
        this.#ws.onThreadMessage(m);
        return;
      }
      if (m.type !== 'health' && m.type !== 'metrics') return;
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (p?.kind === 'health' && m.type === 'health') p.answer(m.health);
      else if (p?.kind === 'metrics' && m.type === 'metrics') p.answer(m.metrics);
    });
  }

  /** Starts the thread; resolves once it listens, rejects with its start error. */
  static async start(config: Pick<Config, 'sip' | 'log'>, log: Logger): Promise<SipThread> {
    const t = new SipThread(config, log);
    const first = await new Promise<ThreadReply>((resolve, reject) => {
      t.#worker.once('message', resolve);
      void t.#exit.then(() => reject(new Error('sip thread exited before listening')));
    });
    if (first.type !== 'listening') {
      await t.#exit;
      throw new Error(`sip thread: ${first.type === 'failed' ? first.message : 'unexpected message'}`);
    }
    t.port = first.port;
    return t;
  }

  /** The gateway the HTTP server hands SIP WebSockets to (see ws-bridge.ts). */
  get wsGateway(): WsGateway {
    return this.#ws;
  }

  /** The stack's `sip` health component, from the thread. */
  health(): Promise<ComponentHealth> {
    if (this.#exited) return Promise.resolve({ status: 'down', error: 'sip thread exited' });
    const id = ++this.#nextId;
    return new Promise((resolve) => {
      this.#pending.set(id, { kind: 'health', answer: resolve });
      this.#worker.postMessage({ type: 'health', id } satisfies ThreadRequest);
    });
  }

  /** The stack's counters for the metrics endpoint, from the thread; null once it has exited. */
  metrics(): Promise<SipStackMetrics | null> {
    if (this.#exited) return Promise.resolve(null);
    const id = ++this.#nextId;
    return new Promise((resolve) => {
      this.#pending.set(id, { kind: 'metrics', answer: resolve });
      this.#worker.postMessage({ type: 'metrics', id } satisfies ThreadRequest);
    });
  }

  /** Closes the control port and the transports, then ends the thread. Idempotent. */
  async close(): Promise<void> {
    if (this.#exited) return;
    this.#worker.postMessage({ type: 'stop' } satisfies ThreadRequest);
    // A thread that does not wind down (a handle left open) is ended rather than waited for.
    const hard = setTimeout(() => void this.#worker.terminate(), stopTimeoutMs);
    await this.#exit;
    clearTimeout(hard);
  }
}
