/**
 * Fewer writes to the mediasoup workers' pipes. mediasoup 3.12's `Channel#request` writes each
 * request to the worker's pipe in two writes, its length and then its JSON, and each is a system
 * call that can wake the worker (which then reads the four bytes of length alone). A call's leg
 * makes about eight requests, and a call's end asks for two counters and closes in one turn of
 * the event loop.
 *
 * `createWorker` here is mediasoup's own, with the writes to the worker's two request pipes
 * (the Channel's and the PayloadChannel's) held until the end of the current turn
 * (`process.nextTick`) and then handed to the kernel together (`cork`/`uncork`: one `writev`).
 * Nothing is reordered or delayed past the turn that wrote it; the worker reads whole requests.
 *
 * The pipes are reached by wrapping `child_process.spawn` for the synchronous part of
 * `mediasoup.createWorker` (the Worker constructor spawns its process before it first awaits);
 * mediasoup keeps them private. The version is pinned (3.12.16), and a spawn that does not
 * happen, or pipes that are not where 3.12 puts them, leave the worker as mediasoup made it.
 */
import { createRequire } from 'node:module';
import type { ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import * as mediasoup from 'mediasoup';
import type { types as ms } from 'mediasoup';

const require = createRequire(import.meta.url);
/** The CommonJS module object mediasoup's Worker calls `spawn` on (at call time). */
const childProcess = require('node:child_process') as { spawn: (...args: unknown[]) => ChildProcess };

/** fd 3: the Channel's requests to the worker; fd 5: the PayloadChannel's (mediasoup 3.12 Worker). */
const requestPipes = [3, 5] as const;

/**
 * `mediasoup.createWorker` running the worker binary `bin`, with the writes of each turn to the
 * worker's request pipes coalesced.
 */
export function createWorker(bin: string, settings: ms.WorkerSettings): Promise<ms.Worker> {
  // mediasoup reads MEDIASOUP_WORKER_BIN once at load; its module keeps the value here.
  (require('mediasoup/node/lib/Worker.js') as { workerBin: string }).workerBin = bin;
  const spawn = childProcess.spawn;
  let child: ChildProcess | undefined;
  childProcess.spawn = function spawnWorker(this: unknown, ...args: unknown[]) {
    child = spawn.apply(this, args);
    return child;
  };
  let worker: Promise<ms.Worker>;
  try {
    worker = mediasoup.createWorker(settings);
  } finally {
    childProcess.spawn = spawn;
  }
  for (const fd of requestPipes) {
    const pipe = (child?.stdio as readonly unknown[] | undefined)?.[fd] as Writable | null | undefined;
    if (pipe && typeof pipe.write === 'function' && typeof pipe.cork === 'function') coalesceWrites(pipe);
  }
  return worker;
}

/**
 * Makes `stream.write` cork the stream on the first write of a turn and uncork it on the next
 * tick: every write of the turn reaches the kernel in one `writev`, in the order written.
 */
export function coalesceWrites(stream: Writable): void {
  const write = stream.write;
  let corked = false;
  const flush = () => {
    corked = false;
    stream.uncork();
  };
  stream.write = function coalescedWrite(this: Writable, ...args: Parameters<Writable['write']>): boolean {
    if (!corked) {
      corked = true;
      stream.cork();
      process.nextTick(flush);
    }
    return write.apply(stream, args);
  } as Writable['write'];
}
