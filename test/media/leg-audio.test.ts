import test from 'ava';
import type { Dtmf } from '../../media/audio/dtmf.js';
import { g711Decode, g711Encode } from '../../media/audio/g711.js';
import type { AudioFrame } from '../../media/audio/leg-audio.js';
import { rms, sine } from '../../media/audio/tone.js';
import { writeRtpPacket } from '../../media/rtp/packet.js';
import { closing, mediaRig, peer, sleep, until, type MediaRig } from '../helpers/media.js';
import type { RtpPeer } from '../helpers/rtp-peer.js';
import { makeOffer } from './fixtures/sdp-offers.js';

let rig: MediaRig;
test.before(async () => {
  rig = await mediaRig();
});
test.after.always(() => rig?.close());

/** Sends one RFC 4733 key press the way phones do: updates every 20 ms, then the end packet three times. */
async function pressKey(p: RtpPeer, to: number, o: { event: number; pt: number; ssrc: number; seq: number; timestamp: number }) {
  const packets = [];
  for (let i = 1; i <= 4; i++) packets.push({ end: false, duration: 160 * i });
  for (let i = 0; i < 3; i++) packets.push({ end: true, duration: 800 });
  for (const [i, e] of packets.entries()) {
    const payload = Buffer.from([o.event, (e.end ? 0x80 : 0) | 10, e.duration >> 8, e.duration & 0xff]);
    p.send(to, writeRtpPacket({ marker: i === 0, payloadType: o.pt, sequence: o.seq + i, timestamp: o.timestamp, ssrc: o.ssrc }, payload));
    await sleep(20);
  }
  return packets.length;
}

test.serial('the peer\'s audio reaches Node as decoded 20 ms frames; its DTMF as one event per key', async (t) => {
  const p = await peer(t);
  const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: p.port, formats: ['0 PCMU/8000', '101 telephone-event/8000'] })));
  const audio = await leg.openAudio();
  const frames: AudioFrame[] = [];
  const keys: Dtmf[] = [];
  audio.on('frame', (f) => frames.push(f));
  audio.on('dtmf', (d) => keys.push(d));

  const sent = await p.stream({ to: leg.port, count: 100, ssrc: 42 });
  const n = await pressKey(p, leg.port, { event: 5, pt: 101, ssrc: 42, seq: 1100, timestamp: 8000 + 100 * 160 });
  await pressKey(p, leg.port, { event: 11, pt: 101, ssrc: 42, seq: 1100 + n, timestamp: 8000 + 106 * 160 });
  await until(() => keys.length >= 2, 3000, 'two keys');
  await sleep(100);

  t.true(frames.length >= sent - 3, `${frames.length} frames of ${sent}`);
  const sentPayloads = new Set(p.sent.map((s) => s.subarray(12).toString('hex')));
  t.true(frames.every((f) => f.pcm.length === 160 && sentPayloads.has(f.payload.toString('hex'))));
  const f = frames.at(-1)!;
  t.deepEqual([...f.pcm], [...g711Decode('PCMU', f.payload)]);
  t.true(rms(f.pcm) > 1000, 'a tone, not silence');
  t.deepEqual(keys, [
    { digit: '5', durationMs: 100, volume: 10 },
    { digit: '#', durationMs: 100, volume: 10 },
  ]);
});

test.serial('DTMF at another payload type (96) on a PCMA call is received too', async (t) => {
  const p = await peer(t);
  const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: p.port, formats: ['8 PCMA/8000', '96 telephone-event/8000'] })));
  const audio = await leg.openAudio();
  const keys: Dtmf[] = [];
  audio.on('dtmf', (d) => keys.push(d));
  await p.stream({ to: leg.port, count: 5, payloadType: 8, ssrc: 9 });
  await pressKey(p, leg.port, { event: 10, pt: 96, ssrc: 9, seq: 1005, timestamp: 9000 });
  await until(() => keys.length >= 1, 3000, 'the key');
  t.deepEqual(keys.map((k) => k.digit), ['*']);
});

for (const law of ['PCMU', 'PCMA'] as const) {
  test.serial(`PCM sent into the seam reaches the peer as ${law} RTP paced at 20 ms`, async (t) => {
    const p = await peer(t);
    const pt = law === 'PCMU' ? 0 : 8;
    const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: p.port, formats: [`${pt} ${law}/8000`] })));
    await leg.echo();
    const audio = await leg.openAudio();
    // The peer speaks first (symmetric RTP: that is how we learn where to send).
    await p.stream({ to: leg.port, count: 3, payloadType: pt });
    await until(() => leg.state === 'active', 2000, 'latch');
    await sleep(100);
    t.is(p.receivedFrom(leg.port).length, 0, 'the seam replaced the echo');

    const pcm = sine(440, 1000, { amplitude: 0.3 });
    const t0 = performance.now();
    audio.send(pcm.subarray(0, 1234));
    audio.send(pcm.subarray(1234));
    t.true(audio.queuedMs >= 960, `queued ${audio.queuedMs} ms`);
    await p.waitFor(50, 3000, leg.port);
    const got = p.receivedFrom(leg.port);
    t.is(got.length, 50);
    t.true(got.every((r) => r.header.payloadType === pt));
    for (let i = 0; i < 50; i++) t.true(got[i]!.payload.equals(g711Encode(law, pcm.subarray(i * 160, (i + 1) * 160))), `frame ${i}`);
    const seq = got.map((r) => r.header.sequence);
    t.true(seq.slice(1).every((s, i) => s === ((seq[i]! + 1) & 0xffff)));
    const ts = got.map((r) => r.header.timestamp);
    t.true(ts.slice(1).every((x, i) => x === ((ts[i]! + 160) >>> 0)));
    t.true(got[0]!.header.marker, 'talkspurt starts with the marker bit');
    // Paced at 20 ms. No frame before its slot, measured from t0: the pacer's clock starts after
    // it, and an arrival is only ever stamped late. The median gap is 20 ms: a stall on a loaded
    // machine stretches one gap (the pacer restarts its clock rather than burst) and bunches the
    // stamps after it, so the span has only a generous cap (a loaded CI run had 1202 ms).
    const span = got.at(-1)!.at - got[0]!.at;
    const gaps = got.slice(1).map((r, i) => r.at - got[i]!.at);
    const median = [...gaps].sort((a, b) => a - b)[24]!;
    const shown = `50 frames over ${span.toFixed(0)} ms, median gap ${median.toFixed(1)} ms`;
    t.true(got.every((r, i) => r.at - t0 >= 20 * i - 2), `a frame before its slot: ${shown}`);
    t.true(median > 17 && median < 23, shown);
    t.true(span < 49 * 20 + 500, shown);
    const firstAfter = got[0]!.at - t0;
    t.true(firstAfter < 60, `first frame after ${firstAfter.toFixed(1)} ms`);
    t.log(`${law}: 50 frames in ${span.toFixed(1)} ms, first after ${firstAfter.toFixed(1)} ms`);

    audio.send(pcm);
    await p.waitFor(60, 2000, leg.port);
    audio.clear();
    const n = p.receivedFrom(leg.port).length;
    await sleep(200);
    t.true(p.receivedFrom(leg.port).length - n <= 2, 'clear() stops what was queued');
  });
}

test.serial('the seam survives a re-latch and closes with the leg', async (t) => {
  const p = await peer(t);
  const leg = await rig.media.createSipLeg(makeOffer({ port: p.port }), { inactivityMs: 2000 });
  t.teardown(() => leg.close());
  const audio = await leg.openAudio();
  const frames: AudioFrame[] = [];
  audio.on('frame', (f) => frames.push(f));
  await p.stream({ to: leg.port, count: 20, ssrc: 1 });
  await until(() => frames.length >= 15, 2000, 'frames');
  const b = await peer(t);
  await leg.updateRemote(makeOffer({ port: b.port, sessionVersion: 2 }));
  await b.stream({ to: leg.port, count: 25, ssrc: 2 });
  await until(() => frames.length >= 15 + 20, 2000, 'frames after the re-latch');
  audio.send(sine(440, 200));
  await b.waitFor(10, 2000, leg.port);
  t.is(b.receivedFrom(leg.port).length, 10, 'the new address hears the seam');
  let closed = false;
  audio.on('close', () => (closed = true));
  leg.close('bye');
  t.true(closed);
  t.true(audio.closed);
  const router = leg.router;
  const dump = await router.dump();
  t.deepEqual(dump.transportIds, [], 'the DirectTransport went with the leg');
});

test.serial('a peer that waits to hear us first is sent to at its SDP address, then latched when it speaks', async (t) => {
  const p = await peer(t);
  const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: p.port }), { latchTimeoutMs: 300 }));
  const audio = await leg.openAudio();
  const frames: AudioFrame[] = [];
  audio.on('frame', (f) => frames.push(f));
  const t0 = Date.now();
  await leg.whenActive();
  const waited = Date.now() - t0;
  t.true(waited >= 250 && waited < 1500, `active after ${waited} ms`);
  t.deepEqual(leg.remote, { ip: '127.0.0.1', port: p.port, ssrc: null });
  audio.send(sine(440, 200));
  await p.waitFor(10, 2000, leg.port);
  t.is(p.receivedFrom(leg.port).length, 10, 'the greeting reached the SDP address');

  const latched = new Promise<void>((resolve) => leg.once('latched', () => resolve()));
  await p.stream({ to: leg.port, count: 40, ssrc: 3 });
  await latched;
  await until(() => frames.length >= 10, 2000, 'frames once latched');
  t.deepEqual(leg.remote, { ip: '127.0.0.1', port: p.port, ssrc: 3 });
});

test.serial('a recvonly peer is sent to at once', async (t) => {
  const p = await peer(t);
  const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: p.port, direction: 'recvonly' })));
  t.regex(leg.answerSdp, /^a=sendonly\r$/m);
  const audio = await leg.openAudio();
  const t0 = Date.now();
  await leg.whenActive();
  t.true(Date.now() - t0 < 300);
  audio.send(sine(440, 100));
  await p.waitFor(5, 2000, leg.port);
  t.is(p.receivedFrom(leg.port).length, 5);
});

test.serial('each frame paced out to the peer is also emitted as `sent`: its PCM (as the peer decodes it) and RTP timestamp', async (t) => {
  const p = await peer(t);
  const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: p.port, formats: ['8 PCMA/8000'] })));
  const audio = await leg.openAudio();
  await p.stream({ to: leg.port, count: 3, payloadType: 8 });
  await until(() => leg.state === 'active', 2000, 'latch');
  const sent: { pcm: Int16Array; timestamp: number }[] = [];
  audio.on('sent', (pcm, timestamp) => sent.push({ pcm, timestamp }));
  audio.send(sine(440, 400, { amplitude: 0.3 }));
  await p.waitFor(20, 3000, leg.port);
  await sleep(60);
  t.is(sent.length, 20);
  const got = p.receivedFrom(leg.port);
  for (let i = 0; i < 20; i++) {
    t.deepEqual([...sent[i]!.pcm], [...g711Decode('PCMA', got[i]!.payload)], `frame ${i}: what the peer got`);
    t.is(sent[i]!.timestamp, got[i]!.header.timestamp, `frame ${i}: its RTP timestamp`);
  }
});
