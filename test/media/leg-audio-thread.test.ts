/**
 * The agent's outgoing audio is paced by one worker thread per MediaService: what the main thread
 * sees of it (`queuedMs`), what happens when the thread dies, and what is left after legs close.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import type { AudioFrame } from '../../media/audio/leg-audio.js';
import { sine } from '../../media/audio/tone.js';
import { PacerThreadError } from '../../media/audio/pacer-thread.js';
import { writeRtpPacket } from '../../media/rtp/packet.js';
import { closing, mediaRig, peer, sleep, until, type MediaRig } from '../helpers/media.js';
import { makeOffer } from './fixtures/sdp-offers.js';

let rig: MediaRig;
test.before(async () => {
  rig = await mediaRig();
});
test.after.always(() => rig?.close());

/** An agent leg whose peer spoke first (so we know where to send). */
async function agentLeg(t: ExecutionContext) {
  const p = await peer(t);
  const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: p.port, formats: ['0 PCMU/8000', '101 telephone-event/8000'] })));
  const audio = await leg.openAudio();
  await p.stream({ to: leg.port, count: 3 });
  await until(() => leg.state === 'active', 2000, 'latch');
  return { p, leg, audio };
}

test.serial('queuedMs follows what the thread has sent: all of it at first, less as it goes, 0 when done or cleared', async (t) => {
  const { p, audio } = await agentLeg(t);
  audio.send(sine(440, 1000));
  t.is(audio.queuedMs, 1000);
  audio.send(new Int16Array(80));
  t.is(audio.queuedMs, 1010, 'a partial frame counts too');
  await p.waitFor(25, 3000);
  await sleep(50);
  const mid = audio.queuedMs;
  t.true(mid > 200 && mid < 800, `half-way: ${mid} ms queued`);
  audio.clear();
  t.is(audio.queuedMs, 0);
  await sleep(100);
  t.is(audio.queuedMs, 0, 'the thread agrees after clear');
  const n = p.received.length;
  audio.send(sine(440, 200));
  await p.waitFor(n + 10, 2000);
  await until(() => audio.queuedMs === 0, 1000, 'queue drained');
  t.log(`queued half-way through 1 s: ${mid} ms`);
});

test.serial('hold stops the agent\'s packets at once, queue kept: release goes on (a new talkspurt, nothing lost), an unreleased hold ends by itself, clear ends it', async (t) => {
  const { p, audio } = await agentLeg(t);
  const first = p.received.length;
  const mine = () => p.received.slice(first);
  audio.send(sine(440, 1000));
  await p.waitFor(first + 10, 3000);
  audio.hold(1000);
  // A packet may already be on its way; then nothing for as long as the hold lasts.
  await sleep(30);
  const atHold = mine().length;
  await sleep(150);
  t.is(mine().length, atHold, 'nothing sent while held');
  t.is(audio.queuedMs, 1000 - atHold * 20, 'and nothing dropped');
  audio.release();
  await until(() => mine().length === 50, 3000, 'the rest of the second');
  await sleep(100);
  const got = mine();
  t.is(got.length, 50, 'every frame once');
  t.true(got[atHold]!.header.marker, 'what follows the hold is a new talkspurt');
  t.true(got.every((r, i) => i === 0 || r.header.sequence === ((got[i - 1]!.header.sequence + 1) & 0xffff)), 'in order, no gap in sequence');

  // Left alone, a hold ends after its time (60 ms), by itself.
  audio.send(sine(440, 400));
  await p.waitFor(first + 55, 2000);
  audio.hold(60);
  await until(() => audio.queuedMs === 0, 3000, 'the queue drained after the hold ran out');
  const gaps = mine().slice(50).map((r, i, a) => (i ? r.at - a[i - 1]!.at : 0));
  const longest = Math.max(...gaps);
  t.log(`a 60 ms hold: longest gap between packets ${longest.toFixed(1)} ms`);
  t.true(longest >= 55 && longest < 250, `${longest} ms`);

  // clear ends a hold: what is sent next plays.
  audio.hold(1000);
  audio.clear();
  const n = mine().length;
  audio.send(sine(440, 200));
  await until(() => mine().length >= n + 10, 1000, 'audio after clear, under a hold that clear ended');
});

test.serial('the pacing thread dies: the agent falls silent, its DTMF rejects, the call goes on; the next agent leg gets a new thread', async (t) => {
  const { p, leg, audio } = await agentLeg(t);
  const frames: number[] = [];
  audio.on('frame', () => frames.push(performance.now()));
  audio.send(sine(440, 3000));
  await p.waitFor(10, 2000);
  const digits = audio.sendDtmf('123');
  await rig.media.pacer.terminateForTest();
  await t.throwsAsync(digits, { instanceOf: PacerThreadError });
  t.is(audio.queuedMs, 0);
  const n = p.received.length;
  audio.send(sine(440, 400));
  await sleep(200);
  t.true(p.received.length - n <= 1, `${p.received.length - n} packets after the thread died`);
  await t.throwsAsync(audio.sendDtmf('1'), { instanceOf: PacerThreadError });
  t.false(audio.closed, 'the seam stays open (incoming audio goes on)');
  t.is(leg.state, 'active');
  const before = frames.length;
  await p.stream({ to: leg.port, count: 10, firstSequence: 2000 });
  await until(() => frames.length >= before + 8, 2000, 'incoming frames after the thread died');
  t.is(rig.media.pacer.streams, 0);

  const next = await agentLeg(t);
  next.audio.send(sine(440, 200));
  t.is(await next.p.waitFor(10, 2000), 10, 'a new thread paces the next leg');
});

test.serial('closing agent legs leaves nothing behind: no stream on the thread, no transport on the router', async (t) => {
  const p = await peer(t);
  const first = await rig.media.createSipLeg(makeOffer({ port: p.port }));
  const router = first.router;
  const base = (await router.dump()).transportIds.length;
  const legs = [first];
  for (let i = 0; i < 4; i++) legs.push(await rig.media.createSipLeg(makeOffer({ port: p.port }), { nextTo: first }));
  const audios = await Promise.all(legs.map((l) => l.openAudio()));
  audios.forEach((a) => a.send(sine(440, 500)));
  t.is(rig.media.pacer.streams, 5);
  // Each agent leg adds one transport: a PlainTransport to the thread, both ways.
  t.is((await router.dump()).transportIds.length, base + 5);
  audios[0]!.close();
  for (const l of legs) l.close();
  t.true(audios.every((a) => a.closed));
  t.is(rig.media.pacer.streams, 0);
  await sleep(50);
  t.is((await router.dump()).transportIds.length, base, 'the router is back to what it had before');
});

test.serial('datagrams from anywhere else at the thread\'s socket are dropped: the peer\'s frames arrive as sent, once each, and the agent goes on speaking', async (t) => {
  const { p, leg, audio } = await agentLeg(t);
  const port = await rig.media.pacer.socketPort();
  if (port === null) return t.fail('the thread is not running');
  const frames: AudioFrame[] = [];
  audio.on('frame', (f) => frames.push(f));
  audio.send(sine(440, 1500));
  const stranger = dgram.createSocket('udp4');
  t.teardown(() => stranger.close());
  // Garbage, RTP of every payload type (the stream's own included), RTCP, runts: from a port that is no stream's.
  const junk = fc.sample(
    fc.oneof(
      fc.uint8Array({ maxLength: 1500 }),
      fc.record({ pt: fc.integer({ min: 0, max: 127 }), seq: fc.integer({ min: 0, max: 65535 }), body: fc.uint8Array({ maxLength: 300 }) }).map((r) =>
        writeRtpPacket({ marker: false, payloadType: r.pt, sequence: r.seq, timestamp: r.seq * 160, ssrc: 7 }, Buffer.from(r.body)),
      ),
    ),
    { numRuns: 600, seed: 4 },
  );
  const blast = (async () => {
    for (const [i, d] of junk.entries()) {
      stranger.send(d, port, '127.0.0.1');
      if (i % 20 === 19) await sleep(10);
    }
  })();
  const before = p.received.length;
  const sent = await p.stream({ to: leg.port, count: 40, firstSequence: 3000 });
  await blast;
  await until(() => frames.length >= sent, 2000, 'the peer\'s frames');
  await sleep(100);
  t.is(frames.length, sent, 'each of the peer\'s frames once, none of the stranger\'s');
  t.deepEqual(
    frames.map((f) => f.sequence),
    Array.from({ length: sent }, (_, i) => frames[0]!.sequence + i),
    'in order, none missing',
  );
  const sentPayloads = new Set(p.sent.slice(-sent).map((s) => s.subarray(12).toString('hex')));
  t.true(frames.every((f) => sentPayloads.has(f.payload.toString('hex'))), 'every frame is one the peer sent');
  t.true(p.received.length - before >= 30, `the agent kept speaking: ${p.received.length - before} packets`);
  t.is(rig.media.pacer.streams, 1, 'the thread lives');
  t.log(`${junk.length} stranger datagrams (fast-check sample); ${sent} peer frames received once each`);
});

/** Whether this process may raise a thread's priority (CAP_SYS_NICE): tried on this thread and undone. */
function mayRaisePriority(): boolean {
  try {
    os.setPriority(-10);
    os.setPriority(0);
    return true;
  } catch {
    return false;
  }
}

/** Each thread of this process with its nice value (/proc/self/task/<tid>/stat, field 19). */
function niceByThread(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of fs.readdirSync('/proc/self/task')) {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
  }
  return out;
}

const raising = mayRaisePriority();
(raising ? test.serial : test.skip)('the agent-audio thread runs at nice -10, and only it: the main thread and the rest keep the process\'s priority', async (t) => {
  await agentLeg(t);
  const nice = niceByThread();
  const raised = [...nice].filter(([, n]) => n === -10).map(([tid]) => tid);
  t.log(`${nice.size} threads; at nice -10: ${raised.join(', ')}; main thread ${nice.get(process.pid)}`);
  t.is(raised.length, 1);
  t.is(nice.get(process.pid), 0);
});
if (!raising) test('thread priority test skipped: this process may not raise a thread\'s priority (no CAP_SYS_NICE); the engine then logs a warning and runs the thread at normal priority', (t) => t.pass());
