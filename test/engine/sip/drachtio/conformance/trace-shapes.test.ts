/**
 * The twelve recorded drachtio-server runs (traces/, from shared/reference/drachtio-traces),
 * replayed against the embedded server with the same app behaviour and the same SIP side. A
 * logging proxy on the control connection collects our frames; per connection and direction,
 * each must have the recorded frame's shape (frame-shape.ts: fields, empty fields, literal
 * values, SIP start line, header names in order and values, body), ignoring UUIDs, times, tags,
 * Call-IDs and numbers.
 */
import test from 'ava';
import Srf from 'drachtio-srf';
import { sippMissing } from '../../../../helpers/sipp.js';
import { frameShape } from './frame-shape.js';
import { SippPeer } from './sipp-peer.js';
import type { SrfApp } from './srf-app.js';
import { SECRET, Sut } from './sut.js';
import { readTrace, type TracedFrame } from './trace-file.js';
import { REPLAYS, type ReplayContext } from './trace-replays.js';
import { WireTap } from './wire-tap.js';

const missing = sippMissing();
if (missing) test(`trace replays skipped: ${missing}`, (t) => t.pass());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `conn=N app->server` / `server->app`: the shapes of one side of one connection. */
function sides(frames: readonly TracedFrame[]): Map<string, string[][]> {
  const out = new Map<string, string[][]>();
  for (const f of frames) {
    const key = `conn=${f.conn} ${f.dir}`;
    out.set(key, [...(out.get(key) ?? []), frameShape(f.body)]);
  }
  return out;
}

for (const replay of REPLAYS) {
  (missing ? test.skip : test.serial)(`trace ${replay.file}: our frames have the recorded shapes`, async (t) => {
    t.timeout(60_000);
    const sut = await Sut.start();
    const { tap, port } = await WireTap.start(sut.controlPort);
    const apps: SrfApp[] = [];
    const peers: SippPeer[] = [];
    t.teardown(async () => {
      await Promise.all(peers.map((p) => p.stop()));
      await tap.close();
      await sut.close();
    });
    const ctx: ReplayContext = {
      sut,
      connect: async ({ app, secret, ping } = {}) => {
        const srf = app ?? (new Srf() as unknown as SrfApp);
        apps.push(srf);
        await new Promise<void>((resolve, reject) => {
          srf.on('connect', (err: Error | null) => {
            if (!err) return resolve();
            // Close at once, as the recorded app did (conn=2 in trace 01); drachtio-srf would reconnect.
            srf.disconnect();
            reject(err);
          });
          srf.connect({ host: '127.0.0.1', port, secret: secret ?? SECRET, ...(ping ? { enablePing: true, pingInterval: 5000 } : {}) });
        });
        return srf;
      },
      sipp: async (scenario, opts = {}) => {
        const peer = await SippPeer.start({
          scenario: 'builtin' in scenario ? scenario : scenario.file,
          ...(opts.uac ? { target: sut.sipHostport } : {}),
          transport: opts.transport ?? 'u1',
          args: opts.args ?? [],
          srfStyle: false,
        });
        peers.push(peer);
        return peer;
      },
    };
    const outcome = await replay.run(ctx);
    if (outcome) t.is(outcome.code, 0, `sipp: ${outcome.ladder.join(' | ')}\n${outcome.output.slice(-800)}`);
    // The last frames (the echo of a final response) may trail the SIP exchange a little.
    await sleep(300);
    for (const app of apps) {
      try {
        app.disconnect();
      } catch {
        // an app whose authentication failed has no connection left to close
      }
    }
    await sleep(100);

    const recorded = sides(readTrace(replay.file));
    const ours = sides(tap.frames);
    t.deepEqual([...ours.keys()].sort(), [...recorded.keys()].sort(), 'the same connections and directions');
    for (const [side, shapes] of recorded) {
      t.deepEqual(ours.get(side) ?? [], shapes, `${side} of ${replay.file}`);
    }
  });
}
