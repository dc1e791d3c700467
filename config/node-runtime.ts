/**
 * The Node runtime settings the engine is meant to run with, and how to tell whether it got them.
 *
 * `npm start` runs `node --enable-source-maps --max-semi-space-size=2 dist/api/main.js`. The
 * second flag gives V8's young generation 2 MB semi-spaces instead of its 16 MB default. Every
 * young-generation collection (a scavenge) stops the event loop while it copies the objects still
 * alive, and what a call allocates and still holds at the next collection is about 40 kB (its SIP
 * transactions and dialog, its media leg, its mediasoup objects). With 16 MB semi-spaces, at 100
 * calls/s, a scavenge came every quarter second and copied about 1.1 MB, which took 5-16 ms on the
 * 2-core test machine: that was the engine's event-loop delay p99. With 2 MB a scavenge copies
 * about 0.18 MB and takes about 2 ms (bench/README.md, sip-cps 2026-12-05 14:24).
 */

/** The flag `npm start` passes, in megabytes. */
export const START_SEMI_SPACE_MB = 2;

/**
 * `--max-semi-space-size` as this process got it, from NODE_OPTIONS or the command line (the
 * command line wins, as in Node), in megabytes; null when absent (V8's default, 16 MB on 64-bit).
 */
export function maxSemiSpaceMb(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): number | null {
  let mb: number | null = null;
  for (const flag of [...nodeOptions.split(/\s+/), ...execArgv]) {
    const m = /^--max[-_]semi[-_]space[-_]size=(\d+)$/.exec(flag);
    if (m) mb = Number(m[1]);
  }
  return mb;
}
