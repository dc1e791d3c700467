import test from 'ava';
import { closing, mediaRig, peer, sleep, until, type MediaRig } from '../helpers/media.js';
import { makeOffer } from './fixtures/sdp-offers.js';

let rig: MediaRig;
test.before(async () => {
  // A slow replacement, so the dead slot stays dead while the test looks.
  rig = await mediaRig({ media: { workers: 2, respawnDelayMs: 1000 } });
});
test.after.always(() => rig?.close());

test.serial('SIGKILL of the worker carrying a leg closes its legs (media_worker_died); legs on the other worker keep echoing', async (t) => {
  const [pa, pb] = [await peer(t), await peer(t)];
  const a = closing(t, await rig.media.createSipLeg(makeOffer({ port: pa.port })));
  const b = closing(t, await rig.media.createSipLeg(makeOffer({ port: pb.port })));
  const c = closing(t, await rig.media.createSipLeg(makeOffer({ port: 9 }))); // on a's worker, still latching
  t.not(a.workerPid, b.workerPid, 'legs are spread over the workers');
  t.is(c.workerPid, a.workerPid);
  await Promise.all([a.echo(), b.echo()]);
  const stopB = new AbortController();
  t.teardown(() => stopB.abort());
  const streamB = pb.stream({ to: b.port, count: 3000, signal: stopB.signal }); // until stopped below: a loaded machine may take seconds before the window
  await pa.stream({ to: a.port, count: 10 });
  await pa.waitFor(8);
  t.is(a.state, 'active');

  const closed = new Map<string, string>();
  a.on('close', (r) => closed.set('a', r));
  c.on('close', (r) => closed.set('c', r));
  b.on('close', (r) => closed.set('b', r));
  process.kill(a.workerPid, 'SIGKILL');
  await until(() => closed.size >= 2, 5000, 'legs on the dead worker to close');
  t.is(closed.get('a'), 'media_worker_died');
  t.is(closed.get('c'), 'media_worker_died');
  t.is(a.state, 'closed');

  const since = performance.now();
  await sleep(600);
  const echoed = pb.receivedSince(since).length;
  t.true(echoed >= 20, `${echoed} packets echoed on the other worker after the kill`);
  t.false(closed.has('b'));
  t.is(b.state, 'active');
  stopB.abort();
  await streamB;
  t.is(rig.media.stats().legs, 1);
});

test.serial('after the worker is replaced, new legs run on the replacement', async (t) => {
  await until(() => rig.pool.stats().alive === 2, 10_000, 'the replacement worker');
  const pids = rig.pool.stats().workers.map((w) => w.pid);
  const legs = [];
  for (let i = 0; i < 2; i++) {
    const p = await peer(t);
    const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: p.port })));
    await leg.echo();
    await p.stream({ to: leg.port, count: 15 });
    await p.waitFor(12);
    t.true(p.received.length >= 12, `leg on worker ${leg.workerPid} echoes`);
    legs.push(leg);
  }
  t.deepEqual(legs.map((l) => l.workerPid).sort(), [...pids].sort(), 'one leg on each worker, the replacement included');
});
