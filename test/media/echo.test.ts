import test from 'ava';
import { g711Decode } from '../../media/audio/g711.js';
import { rms } from '../../media/audio/tone.js';
import { MediaService } from '../../media/media-service.js';
import { negotiateOffer } from '../../media/sdp/index.js';
import type { SipLeg } from '../../media/sip-leg.js';
import { WorkerPool } from '../../media/worker-pool.js';
import { testConfig, testLogger } from '../helpers/config.js';
import { RtpPeer, tonePayload } from '../helpers/rtp-peer.js';
import { makeOffer } from './fixtures/sdp-offers.js';

let pool: WorkerPool;
let media: MediaService;

test.before(async () => {
  const config = testConfig();
  pool = await WorkerPool.create(config, testLogger(config));
  media = new MediaService(pool, config.rtp, testLogger(config));
});
test.after.always(() => {
  media?.close();
  pool?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The port our answer tells the peer to send to. */
const answeredPort = (leg: SipLeg) => negotiateOffer(leg.answerSdp).negotiation.remote.port;

test.serial('echo: 150 μ-law packets at 20 ms come back through mediasoup, payloads intact, stats agree', async (t) => {
  const peer = await RtpPeer.open();
  t.teardown(() => peer.close());
  const leg = await media.createSipLeg(makeOffer({ port: peer.port, formats: ['0 PCMU/8000', '101 telephone-event/8000'] }));
  t.teardown(() => leg.close());
  t.is(answeredPort(leg), leg.port);
  t.is(leg.state, 'latching');
  await leg.echo();

  const t0 = performance.now();
  const sent = await peer.stream({ to: leg.port, count: 150, ssrc: 0x0badcafe });
  await peer.waitFor(sent - 3, 3000);
  await sleep(300);
  t.is(leg.state, 'active');
  t.deepEqual(leg.remote, { ip: '127.0.0.1', port: peer.port, ssrc: 0x0badcafe });

  const echoed = peer.received;
  t.true(echoed.length >= 0.95 * sent, `${echoed.length} of ${sent} echoed`);
  // Every echoed packet is one we sent, byte for byte, in order, from the leg's port.
  const index = new Map(peer.sent.map((p, i) => [p.subarray(12).toString('hex'), i]));
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
  const rtt = echoed.map((r) => r.at - t0 - peer.sent.findIndex((p) => p.subarray(12).equals(r.payload)) * 20);
  t.log(`echoed ${echoed.length}/${sent}; in ${stats.rtpPacketsIn}; median echo delay ${median(rtt).toFixed(2)} ms`);
});

test.serial('comedia: the peer sends from another port than its SDP says; the echo goes to the real source', async (t) => {
  const peer = await RtpPeer.open();
  t.teardown(() => peer.close());
  const leg = await media.createSipLeg(makeOffer({ port: 9, formats: ['8 PCMA/8000'] }));
  t.teardown(() => leg.close());
  await leg.echo();
  const sent = await peer.stream({ to: leg.port, count: 50, payloadType: 8, payload: (i) => tonePayload(i, 'PCMA') });
  await peer.waitFor(sent - 3, 3000);
  t.true(peer.received.length >= sent - 3, `${peer.received.length} of ${sent}`);
  t.true(peer.received.every((r) => r.header.payloadType === 8));
  t.is(leg.remote?.port, peer.port);
  t.not(leg.negotiation.remote.port, peer.port);
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}
