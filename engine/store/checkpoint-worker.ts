/**
 * Runs in a worker thread (see checkpointer.ts): its own connection to the database file, on
 * which it checkpoints the WAL every `intervalMs`. A PASSIVE checkpoint never waits on the
 * engine's connection, and the fsync of the database file it ends with happens here, off the
 * event loop of the engine.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { file, intervalMs } = workerData as { file: string; intervalMs: number };
const db = new Database(file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');

const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort?.postMessage({ error: (err as Error).message });
  }
}, intervalMs);

parentPort?.on('message', (m: unknown) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
