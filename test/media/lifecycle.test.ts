import test from 'ava';
import { bindUdp, closeUdp } from '../../media/rtp/ports.js';
import { LegClosedError, SdpError } from '../../media/errors.js';
import { closing, mediaRig, peer, sleep, until, type MediaRig } from '../helpers/media.js';
import { makeOffer } from './fixtures/sdp-offers.js';

let rig: MediaRig;
test.before(async () => {
  rig = await mediaRig();
});
test.after.always(() => rig?.close());

test.serial('inactive fires once the peer stops sending for inactivityMs', async (t) => {
  const p = await peer(t);
  const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: p.port }), { inactivityMs: 600 }));
  await leg.echo();
  const fired: number[] = [];
  leg.on('inactive', (silentMs) => fired.push(silentMs));
  await p.stream({ to: leg.port, count: 50 });
  const stoppedAt = Date.now();
  t.deepEqual(fired, [], 'not while RTP flows');
  await until(() => fired.length > 0, 3000, 'inactive');
  const after = Date.now() - stoppedAt;
  t.true(after >= 500 && after <= 1600, `fired ${after} ms after the last packet`);
  t.true(fired[0]! >= 600);
  await sleep(800);
  t.is(fired.length, 1, 'once per silent spell');
  t.is(leg.state, 'active', 'reporting is not closing: the caller decides');
});

test.serial('a peer that never sends is reported too; one that said inactive is not', async (t) => {
  const silent = closing(t, await rig.media.createSipLeg(makeOffer({ port: 9 }), { inactivityMs: 400 }));
  const held = closing(t, await rig.media.createSipLeg(makeOffer({ port: 9, direction: 'inactive' }), { inactivityMs: 400 }));
  let heldFired = false;
  held.on('inactive', () => (heldFired = true));
  const t0 = Date.now();
  await new Promise<void>((resolve) => silent.once('inactive', () => resolve()));
  t.true(Date.now() - t0 >= 350);
  t.is(silent.state, 'latching');
  await sleep(600);
  t.false(heldFired);
});

test.serial('close(reason) is idempotent, emits close once with the reason, and frees the port', async (t) => {
  const p = await peer(t);
  const leg = await rig.media.createSipLeg(makeOffer({ port: p.port }));
  await leg.echo();
  await p.stream({ to: leg.port, count: 10 });
  await p.waitFor(8);
  const reasons: string[] = [];
  leg.on('close', (r) => reasons.push(r));
  const before = rig.media.legCount;
  leg.close('bye');
  leg.close('again');
  t.deepEqual(reasons, ['bye']);
  t.is(leg.state, 'closed');
  t.is(rig.media.legCount, before - 1);
  await t.throwsAsync(leg.updateRemote(makeOffer({ port: p.port })), { instanceOf: LegClosedError });
  // The worker lets go of the port: a socket can bind it again.
  const router = await rig.media.routerOf(rig.pool.pick());
  await router.dump();
  const again = await bindUdp('127.0.0.1', leg.port);
  await closeUdp(again);
  t.pass();
});

test.serial('closing a leg that is still latching frees its Node socket', async (t) => {
  const leg = await rig.media.createSipLeg(makeOffer());
  t.is(leg.state, 'latching');
  leg.close('cancel');
  await sleep(20);
  const again = await bindUdp('127.0.0.1', leg.port);
  await closeUdp(again);
  t.pass();
});

test.serial('a malformed offer takes no port and no leg', async (t) => {
  const before = rig.media.legCount;
  await t.throwsAsync(rig.media.createSipLeg('v=0\r\ngarbage'), { instanceOf: SdpError });
  t.is(rig.media.legCount, before);
});

test.serial('ports: a leg takes an even port from its slot\'s lower half; mediasoup\'s own sockets stay in the upper half', async (t) => {
  const slot = rig.pool.stats().workers[0]!;
  t.true(slot.legMaxPort < slot.rtcMinPort, 'disjoint halves');
  const p = await peer(t);
  const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: p.port })));
  t.is(leg.port % 2, 0, 'RTP on an even port (RFC 3550 §11)');
  t.true(leg.port >= slot.legMinPort && leg.port <= slot.legMaxPort);
  await p.stream({ to: leg.port, count: 3 });
  await until(() => leg.state === 'active', 2000, 'latch');
  t.is(leg.transport!.tuple.localPort, leg.port, 'the worker took over the port our SDP gave');
  const rtcp = leg.transport!.rtcpTuple!.localPort;
  t.true(rtcp >= slot.rtcMinPort && rtcp <= slot.rtcMaxPort, `RTCP socket (no rtcp-mux) on ${rtcp}`);
});

test.serial('no leaks: after legs close, the router holds no transport, producer or consumer', async (t) => {
  const router = await rig.media.routerOf(rig.pool.pick());
  const peers = await Promise.all([peer(t), peer(t), peer(t)]);
  const legs = await Promise.all(peers.map((p) => rig.media.createSipLeg(makeOffer({ port: p.port }))));
  await Promise.all(legs.map((l) => l.echo()));
  await Promise.all(peers.map((p, i) => p.stream({ to: legs[i]!.port, count: 15 })));
  await Promise.all(peers.map((p) => p.waitFor(12)));
  // One leg re-latches to a new peer port, leaving its old transport behind.
  const moved = await peer(t);
  await legs[0]!.updateRemote(makeOffer({ port: moved.port, sessionVersion: 2 }));
  await moved.stream({ to: legs[0]!.port, count: 10 });
  await moved.waitFor(8);

  let dump = await router.dump();
  t.is(dump.transportIds.length, 3);
  t.is(Object.keys(dump.mapProducerIdConsumerIds).length, 3);
  t.is(Object.keys(dump.mapConsumerIdProducerId).length, 3);
  for (const l of legs) l.close('bye');
  dump = await router.dump();
  t.deepEqual(dump.transportIds, []);
  t.deepEqual(dump.mapProducerIdConsumerIds, {});
  t.deepEqual(dump.mapConsumerIdProducerId, {});
  const worker = await rig.pool.pick().dump();
  t.deepEqual(worker.routerIds, [router.id], 'one router per worker, not one per call');
  t.deepEqual(rig.media.stats(), { legs: 0, portsHeld: 0 });
});
