import test from 'ava';
import { g711Decode } from '../../media/audio/g711.js';
import { rms } from '../../media/audio/tone.js';
import { answeredPort, closing, mediaRig, peer, sleep, type MediaRig } from '../helpers/media.js';
import { tonePayload } from '../helpers/rtp-peer.js';
import { makeOffer } from './fixtures/sdp-offers.js';

let rig: MediaRig;
test.before(async () => {
  rig = await mediaRig();
});
test.after.always(() => rig?.close());

test.serial('echo: 150 μ-law packets at 20 ms come back through mediasoup, payloads intact, stats agree', async (t) => {
  const p = await peer(t);
  const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: p.port, formats: ['0 PCMU/8000', '101 telephone-event/8000'] })));
  t.is(answeredPort(leg.answerSdp), leg.port);
  t.is(leg.state, 'latching');
  await leg.echo();

  const t0 = performance.now();
  const sent = await p.stream({ to: leg.port, count: 150, ssrc: 0x0badcafe });
  await p.waitFor(sent - 3, 3000);
  await sleep(300);
  t.is(leg.state, 'active');
  t.deepEqual(leg.remote, { ip: '127.0.0.1', port: p.port, ssrc: 0x0badcafe });

  const echoed = p.received;
  t.true(echoed.length >= 0.95 * sent, `${echoed.length} of ${sent} echoed`);
  // Every echoed packet is one we sent, byte for byte, in order, from the leg's port.
  const index = new Map(p.sent.map((s, i) => [s.subarray(12).toString('hex'), i]));
  let last = -1;
  for (const r of echoed) {
    const i = index.get(r.payload.toString('hex'));
    t.not(i, undefined, 'payload matches a sent packet');
    t.true(i! > last, 'in order');
    last = i!;
    t.is(r.header.payloadType, 0);
    t.is(r.from.port, leg.port);
  }
  const ssrcs = new Set(echoed.map((r) => r.header.ssrc));
  t.is(ssrcs.size, 1, 'one outgoing SSRC');
  t.not([...ssrcs][0], 0x0badcafe, 'mediasoup sends with its own SSRC');
  const seqs = echoed.map((r) => r.header.sequence);
  t.true(seqs.slice(1).every((s, i) => s === ((seqs[i]! + 1) & 0xffff)), 'consecutive sequence numbers');
  t.true(rms(g711Decode('PCMU', echoed.at(-1)!.payload)) > 1000, 'the echo is the tone, not silence');

  const stats = await leg.stats();
  t.is(stats.rtpPacketsOut, echoed.length, 'packets out = packets the peer got');
  t.true(stats.rtpPacketsIn >= echoed.length && stats.rtpPacketsIn <= sent, `in: ${stats.rtpPacketsIn}`);
  t.true(sent - stats.rtpPacketsIn <= 3, 'at most a few packets lost while the port is handed to the worker');
  t.is(stats.bytesOut, echoed.reduce((n, r) => n + r.size, 0), 'bytes out = bytes the peer got');
  t.is(stats.bytesIn, stats.rtpPacketsIn * (12 + 160), 'bytes in = the packets the peer sent');
  t.truthy(stats.lastRtpAt);
  const rtt = echoed.map((r) => r.at - t0 - p.sent.findIndex((s) => s.subarray(12).equals(r.payload)) * 20);
  t.log(`echoed ${echoed.length}/${sent}; in ${stats.rtpPacketsIn}; median echo delay ${median(rtt).toFixed(2)} ms`);
});

test.serial('comedia: the peer sends from another port than its SDP says; the echo goes to the real source', async (t) => {
  const p = await peer(t);
  const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: 9, formats: ['8 PCMA/8000'] })));
  await leg.echo();
  const sent = await p.stream({ to: leg.port, count: 50, payloadType: 8, payload: (i) => tonePayload(i, 'PCMA') });
  await p.waitFor(sent - 3, 3000);
  t.true(p.received.length >= sent - 3, `${p.received.length} of ${sent}`);
  t.true(p.received.every((r) => r.header.payloadType === 8));
  t.is(leg.remote?.port, p.port);
  t.not(leg.negotiation.remote.port, p.port);
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}
