/** The engine's heartbeat in the file (migration 0007): when the process was last known alive. */
import type { Db } from '../database.js';
import { nowIso } from '../ids.js';

export class LivenessRepo {
  readonly #beat;
  readonly #last;

  constructor(db: Db) {
    this.#beat = db.prepare<[string]>('INSERT INTO liveness (id, alive_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET alive_at = excluded.alive_at');
    this.#last = db.prepare<[], { alive_at: string }>('SELECT alive_at FROM liveness WHERE id = 1');
  }

  /** The process is alive at `at`. */
  beat(at: string = nowIso()): void {
    this.#beat.run(at);
  }

  /** The last beat of any run; undefined before the first. */
  lastAlive(): string | undefined {
    return this.#last.get()?.alive_at;
  }
}
