/**
 * RFC 4733 events sent to a peer through `LegAudio.sendDtmf`, read on a raw RTP socket and
 * decoded with our own `DtmfReceiver`: payload type, marker, E bits, shared timestamps, growing
 * durations, one SSRC and sequence with the audio, the cadence, and audio waiting while events
 * play.
 */
import test from 'ava';
import { DtmfNotNegotiatedError, DtmfReceiver, InvalidDtmfError, type Dtmf } from '../../media/audio/dtmf.js';
import { sine } from '../../media/audio/tone.js';
import { LegClosedError } from '../../media/errors.js';
import { closing, mediaRig, peer, sleep, until, type MediaRig } from '../helpers/media.js';
import type { RtpPeer } from '../helpers/rtp-peer.js';
import { makeOffer } from './fixtures/sdp-offers.js';

let rig: MediaRig;
test.before(async () => {
  rig = await mediaRig();
});
test.after.always(() => rig?.close());

/** A latched leg for a peer offering `formats`, with its audio seam open. */
async function openLeg(t: Parameters<typeof closing>[0], formats: string[], audioPt: number) {
  const p = await peer(t);
  const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: p.port, formats })));
  const audio = await leg.openAudio();
  await p.stream({ to: leg.port, count: 3, payloadType: audioPt });
  await until(() => leg.state === 'active', 2000, 'latch');
  return { p, leg, audio };
}

type Got = RtpPeer['received'][number];

/** The events among what the peer got, grouped by RTP timestamp (one group per key press). */
function events(got: Got[], pt: number): Got[][] {
  const groups = new Map<number, Got[]>();
  for (const r of got.filter((g) => g.header.payloadType === pt)) {
    const g = groups.get(r.header.timestamp) ?? [];
    g.push(r);
    groups.set(r.header.timestamp, g);
  }
  return [...groups.values()];
}

test.serial('digits reach the peer as well-formed RFC 4733 events at its payload type, 100 ms tone / 70 ms gap', async (t) => {
  const { p, audio } = await openLeg(t, ['0 PCMU/8000', '101 telephone-event/8000'], 0);
  t.is(audio.dtmfPayloadType, 101);
  audio.send(sine(440, 200)); // audio first: the stream exists, events then replace it
  await sleep(60);
  const t0 = performance.now();
  await audio.sendDtmf('159#');
  const resolvedAfter = performance.now() - t0;
  await sleep(300); // the audio that waited goes out after the events

  const got = p.received;
  const keys = events(got, 101);
  t.is(keys.length, 4, 'four events');
  const rx = new DtmfReceiver();
  const decoded: Dtmf[] = [];
  for (const r of got.filter((g) => g.header.payloadType === 101)) {
    const d = rx.receive(r.header.timestamp, r.payload);
    if (d) decoded.push(d);
  }
  t.deepEqual(decoded, ['1', '5', '9', '#'].map((digit) => ({ digit, durationMs: 100, volume: 10 })));
  for (const k of keys) {
    t.deepEqual(k.map((r) => r.header.marker), [true, false, false, false, false, false, false], 'marker on the first packet only');
    t.deepEqual(k.map((r) => (r.payload[1]! & 0x80) !== 0), [false, false, false, false, true, true, true], 'three end packets with E');
    t.deepEqual(k.map((r) => r.payload.readUInt16BE(2)), [160, 320, 480, 640, 800, 800, 800], 'duration grows by 20 ms a packet');
    t.true(k.every((r) => (r.payload[1]! & 0x3f) === 10), 'volume 10');
  }
  const ts = keys.map((k) => k[0]!.header.timestamp);
  t.deepEqual(ts.slice(1).map((x, i) => (x - ts[i]!) >>> 0), [1360, 1360, 1360], 'events 170 ms apart on the RTP clock');
  t.is(new Set(got.map((r) => r.header.ssrc)).size, 1, 'audio and events share one SSRC');
  t.true(got.slice(1).every((r, i) => r.header.sequence === ((got[i]!.header.sequence + 1) & 0xffff)), 'one sequence space, no gap');
  const starts = keys.map((k) => k[0]!.at);
  const gaps = starts.slice(1).map((x, i) => x - starts[i]!);
  // On a drift-free schedule: none early, measured from t0 (before the thread's schedule starts;
  // from the first arrival instead, a first arrival stamped late made the next look early), and
  // none more than 150 ms late from the first (a loaded machine stamps arrivals late).
  const early = starts.map((x, i) => x - t0 - i * 170);
  const lateness = starts.map((x, i) => x - starts[0]! - i * 170);
  const shown = `inter-digit ${gaps.map((g) => g.toFixed(1)).join(', ')} ms; from t0 ${early.map((l) => l.toFixed(1)).join(', ')} ms after the schedule`;
  t.true(early.every((l) => l > -2), shown);
  t.true(lateness.every((l) => l < 150), shown);
  // The audio queued before the digits waits, and follows them as a new talkspurt.
  const lastEvent = got.findLastIndex((r) => r.header.payloadType === 101);
  const firstEvent = got.findIndex((r) => r.header.payloadType === 101);
  t.true(got.slice(firstEvent, lastEvent).every((r) => r.header.payloadType === 101), 'no audio between events');
  const after = got.slice(lastEvent + 1);
  t.true(after.length > 0 && after.every((r) => r.header.payloadType === 0), 'audio resumes after the events');
  t.true(after[0]!.header.marker, 'as a new talkspurt');
  t.true(after[0]!.header.timestamp - ts[3]! >= 800, 'its timestamp after the last event');
  t.true(resolvedAfter >= 3 * 170 + 120 - 2, `resolved after ${resolvedAfter.toFixed(0)} ms (last end packet)`);
  const audioFrames = got.filter((r) => r.header.payloadType === 0).length;
  t.is(audioFrames, 10, '200 ms of audio: nothing lost');
  t.log(`4 digits: inter-digit ${gaps.map((g) => g.toFixed(1)).join(', ')} ms (scheduled 170), resolved after ${resolvedAfter.toFixed(1)} ms (scheduled ${3 * 170 + 120}: the last end packet)`);
});

test.serial('before any audio: one silent frame opens the stream, then the events (PCMA, payload type 96)', async (t) => {
  const { p, audio } = await openLeg(t, ['8 PCMA/8000', '96 telephone-event/8000'], 8);
  await audio.sendDtmf('*', { toneMs: 60, gapMs: 50 });
  await sleep(50);
  const got = p.received;
  t.deepEqual(got.map((r) => r.header.payloadType), [8, 96, 96, 96, 96, 96]);
  t.deepEqual(got.slice(1).map((r) => r.payload.readUInt16BE(2)), [160, 320, 480, 480, 480]);
  t.is(got[1]!.payload[0], 10, 'event 10 is *');
  t.is((got[1]!.header.timestamp - got[0]!.header.timestamp) >>> 0, 160, 'the event starts where the frame ends');
});

test.serial('refusals: bad digits, bad timing, no telephone-event, a type with no carrier, a closed seam', async (t) => {
  const { audio, leg } = await openLeg(t, ['0 PCMU/8000', '101 telephone-event/8000'], 0);
  for (const bad of ['', '12x', 'a', '1 2', 'E', '5'.repeat(65)]) await t.throwsAsync(audio.sendDtmf(bad), { instanceOf: InvalidDtmfError });
  await t.throwsAsync(audio.sendDtmf('1', { toneMs: 10 }), { instanceOf: RangeError });
  await t.throwsAsync(audio.sendDtmf('1', { gapMs: 20 }), { instanceOf: RangeError });
  const pending = audio.sendDtmf('123456');
  await sleep(100);
  leg.close('bye');
  await t.throwsAsync(pending, { instanceOf: LegClosedError });

  const none = await openLeg(t, ['0 PCMU/8000'], 0);
  t.is(none.audio.dtmfPayloadType, null);
  await t.throwsAsync(none.audio.sendDtmf('1'), { instanceOf: DtmfNotNegotiatedError });
  const odd = await openLeg(t, ['0 PCMU/8000', '99 telephone-event/8000'], 0);
  t.is(odd.audio.dtmfPayloadType, null, 'no carrier at 99: SIP INFO instead');
});

test.serial('a re-offer moving telephone-event to another payload type: the next digits go at the new one', async (t) => {
  const { p, leg, audio } = await openLeg(t, ['0 PCMU/8000', '101 telephone-event/8000'], 0);
  await audio.sendDtmf('1', { toneMs: 40, gapMs: 41 });
  await leg.updateRemote(makeOffer({ port: p.port, formats: ['0 PCMU/8000', '96 telephone-event/8000'], sessionVersion: 2 }));
  t.is(audio.dtmfPayloadType, 96);
  await p.stream({ to: leg.port, count: 3, ssrc: 0x1234abcd, firstSequence: 2000 }); // re-latch
  await until(() => leg.state === 'active', 2000, 're-latch');
  const since = performance.now();
  await audio.sendDtmf('2', { toneMs: 40, gapMs: 41 });
  await sleep(50);
  // What the leg sent: a loaded full-suite run once showed PT 8 packets in between, from a port
  // not named here (another process's media on a shared RTP range, which test/helpers/config.ts
  // now keeps apart); each packet's source is in the message.
  const after = p.receivedSince(since);
  const seen = after.map((r) => `${r.header.payloadType}/${r.payload[0]} from ${r.from.port}`).join(', ');
  const events = after.filter((r) => r.from.port === leg.port && r.header.payloadType !== 0);
  t.deepEqual(
    events.map((r) => [r.header.payloadType, r.payload[0]]),
    [[96, 2], [96, 2], [96, 2], [96, 2]],
    `the leg at ${leg.port}; received: ${seen}`,
  );
  t.true(p.received.some((r) => r.header.payloadType === 101 && r.payload[0] === 1), 'the first digit went at 101');
});
