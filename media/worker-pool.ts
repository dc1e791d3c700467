/**
 * A pool of mediasoup workers, one per core by default. Each slot owns a slice of the RTP port
 * range, so a replacement worker reuses its predecessor's ports. A worker that dies is logged,
 * reported in `stats()` as down, announced (`workerdied`, so the calls it carried can end), and
 * replaced.
 *
 * A slot's slice is cut in two. The lower half holds SIP legs' RTP ports, which the media
 * service picks and binds itself before handing each to the worker at a fixed number; the upper
 * half is the worker's own range, for the ports mediasoup picks (a leg's RTCP socket without
 * rtcp-mux, WebRTC transports). Disjoint halves mean mediasoup can never take a leg's port in
 * the instant it passes from Node to the worker.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../config/logger.js';
import type { Config } from '../config/schema.js';
import { TypedEmitter } from '../lib/typed-emitter.js';
import { createWorker } from './worker-channel.js';

const require = createRequire(import.meta.url);

/** mediasoup's version, which keys the worker build cache. */
const mediasoupVersion: string = (require('mediasoup/package.json') as { version: string }).version;

interface WorkerSlotStats {
  index: number;
  pid: number | null;
  alive: boolean;
  /** Ports of SIP legs' RTP, chosen by the media service. */
  legMinPort: number;
  legMaxPort: number;
  /** The worker's own range (mediasoup picks these). */
  rtcMinPort: number;
  rtcMaxPort: number;
  /** Workers that died in this slot since start. */
  deaths: number;
}

interface PoolStats {
  expected: number;
  alive: number;
  workers: WorkerSlotStats[];
}

type PoolEvents = {
  workerdied: [index: number, pid: number, error: Error];
  workerreplaced: [index: number, pid: number];
};

interface Slot {
  index: number;
  worker: ms.Worker | null;
  legMinPort: number;
  legMaxPort: number;
  rtcMinPort: number;
  rtcMaxPort: number;
  deaths: number;
  retry?: NodeJS.Timeout;
}

export class WorkerPool extends TypedEmitter<PoolEvents> {
  readonly #slots: Slot[];
  #closed = false;
  #next = 0;

  private constructor(
    private readonly settings: { bin: string; logLevel: ms.WorkerLogLevel; respawnDelayMs: number },
    private readonly log: Logger,
    count: number,
    minPort: number,
    maxPort: number,
  ) {
    super((event, error) => log.error({ event, err: error }, 'worker pool listener threw'));
    const span = Math.floor((maxPort - minPort + 1) / count);
    this.#slots = Array.from({ length: count }, (_, index) => {
      const first = minPort + index * span;
      const last = index === count - 1 ? maxPort : first + span - 1;
      const half = Math.max(1, Math.floor((last - first + 1) / 2));
      return {
        index,
        worker: null,
        legMinPort: first,
        legMaxPort: first + half - 1,
        rtcMinPort: Math.min(first + half, last),
        rtcMaxPort: last,
        deaths: 0,
      };
    });
  }

  /** Starts every worker. Fails if the binary is missing or a worker cannot start. */
  static async create(config: Pick<Config, 'media' | 'rtp'>, log: Logger): Promise<WorkerPool> {
    const bin = config.media.workerBin;
    if (!bin || !fs.existsSync(bin)) {
      throw new Error(`mediasoup worker binary not found at ${bin}; run scripts/build-mediasoup-worker.sh`);
    }
    const pool = new WorkerPool(
      { bin, logLevel: config.media.logLevel, respawnDelayMs: config.media.respawnDelayMs },
      log.child({ component: 'media' }),
      config.media.workers,
      config.rtp.minPort,
      config.rtp.maxPort,
    );
    try {
      await Promise.all(pool.#slots.map((s) => pool.#start(s)));
    } catch (e) {
      pool.close();
      throw e;
    }
    pool.log.info({ workers: pool.#slots.length, bin, version: mediasoupVersion }, 'media workers started');
    return pool;
  }

  async #start(slot: Slot): Promise<void> {
    const worker = await createWorker(this.settings.bin, {
      logLevel: this.settings.logLevel,
      rtcMinPort: slot.rtcMinPort,
      rtcMaxPort: slot.rtcMaxPort,
      appData: { slot: slot.index },
    });
    if (this.#closed) {
      worker.close();
      return;
    }
    slot.worker = worker;
    worker.on('died', (error) => this.#onDied(slot, worker, error));
  }

  #onDied(slot: Slot, worker: ms.Worker, error: Error): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.deaths++;
    this.log.error({ slot: slot.index, pid: worker.pid, err: error }, 'media worker died');
    this.emit('workerdied', slot.index, worker.pid, error);
    this.#scheduleRespawn(slot);
  }

  #scheduleRespawn(slot: Slot): void {
    if (this.#closed) return;
    slot.retry = setTimeout(() => this.#respawn(slot), this.settings.respawnDelayMs);
  }

  #respawn(slot: Slot): void {
    if (this.#closed) return;
    this.#start(slot).then(
      () => {
        if (!slot.worker) return;
        this.log.info({ slot: slot.index, pid: slot.worker.pid }, 'media worker replaced');
        this.emit('workerreplaced', slot.index, slot.worker.pid);
      },
      (err: unknown) => {
        this.log.error({ slot: slot.index, err }, 'media worker failed to start, retrying');
        this.#scheduleRespawn(slot);
      },
    );
  }

  /** A live worker, round-robin. Throws when none is alive. */
  pick(): ms.Worker {
    for (let i = 0; i < this.#slots.length; i++) {
      const slot = this.#slots[(this.#next + i) % this.#slots.length]!;
      if (slot.worker && !slot.worker.closed) {
        this.#next = (slot.index + 1) % this.#slots.length;
        return slot.worker;
      }
    }
    throw new Error('no media worker alive');
  }

  /** The live workers, in slot order. */
  workers(): ms.Worker[] {
    return this.#slots.flatMap((s) => (s.worker && !s.worker.closed ? [s.worker] : []));
  }

  /** The slot a worker of this pool runs in, with the slot's port range for SIP legs' RTP. */
  slotOf(worker: ms.Worker): { index: number; legMinPort: number; legMaxPort: number } {
    const index = (worker.appData as { slot?: unknown }).slot;
    const slot = typeof index === 'number' ? this.#slots[index] : undefined;
    if (!slot) throw new Error('worker does not belong to this pool');
    return { index: slot.index, legMinPort: slot.legMinPort, legMaxPort: slot.legMaxPort };
  }

  stats(): PoolStats {
    const workers = this.#slots.map((s) => ({
      index: s.index,
      pid: s.worker?.pid ?? null,
      alive: Boolean(s.worker && !s.worker.closed && !s.worker.died),
      legMinPort: s.legMinPort,
      legMaxPort: s.legMaxPort,
      rtcMinPort: s.rtcMinPort,
      rtcMaxPort: s.rtcMaxPort,
      deaths: s.deaths,
    }));
    return { expected: workers.length, alive: workers.filter((w) => w.alive).length, workers };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Closes every worker (and, through mediasoup, their routers and transports). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const slot of this.#slots) {
      clearTimeout(slot.retry);
      slot.worker?.close();
      slot.worker = null;
    }
    this.removeAllListeners();
  }
}
