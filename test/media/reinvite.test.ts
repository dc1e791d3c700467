import test from 'ava';
import { NoCommonCodecError, SdpError } from '../../media/errors.js';
import { writeRtpPacket } from '../../media/rtp/packet.js';
import { answeredPort, closing, mediaRig, peer, sleep, type MediaRig } from '../helpers/media.js';
import { waitFor } from '../helpers/http.js';
import { tonePayload } from '../helpers/rtp-peer.js';
import { makeOffer } from './fixtures/sdp-offers.js';

let rig: MediaRig;
test.before(async () => {
  rig = await mediaRig();
});
test.after.always(() => rig?.close());

test.serial('hold (sendonly, inactive, c=0.0.0.0) stops what goes to the peer; unhold resumes it', async (t) => {
  const p = await peer(t);
  const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: p.port })));
  await leg.echo();
  const stop = new AbortController();
  const streaming = p.stream({ to: leg.port, count: 400, signal: stop.signal });
  t.teardown(() => stop.abort());
  await p.waitFor(20);

  const silentAfter = async (offer: string, answerDirection: string) => {
    const answer = await leg.updateRemote(offer);
    t.regex(answer, new RegExp(`^a=${answerDirection}\\r$`, 'm'));
    t.is(answeredPort(answer), leg.port, 'our port does not move');
    const since = performance.now() + 10; // a datagram already in the socket buffer may still land
    await sleep(400);
    t.is(p.receivedSince(since).length, 0, `nothing sent to the peer after ${answerDirection}`);
  };
  await silentAfter(makeOffer({ port: p.port, direction: 'sendonly', sessionVersion: 2 }), 'recvonly');
  await silentAfter(makeOffer({ port: p.port, direction: 'inactive', sessionVersion: 3 }), 'inactive');
  await silentAfter(makeOffer({ address: '0.0.0.0', port: p.port, sessionVersion: 4 }), 'recvonly');

  const answer = await leg.updateRemote(makeOffer({ port: p.port, sessionVersion: 5 }));
  t.regex(answer, /^a=sendrecv\r$/m);
  const resumed = performance.now();
  await sleep(500);
  const after = p.receivedSince(resumed).length;
  t.true(after >= 15, `${after} packets after unhold`);
  t.is(leg.state, 'active', 'hold never re-latched');
  stop.abort();
  await streaming;
  const stats = await leg.stats();
  t.true(stats.rtpPacketsOut <= stats.rtpPacketsIn - 40, `held packets were not sent (${stats.rtpPacketsOut} of ${stats.rtpPacketsIn})`);
});

test.serial('a re-offer with a new port is followed: the leg re-latches, its own port stays', async (t) => {
  const a = await peer(t);
  const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: a.port })));
  await leg.echo();
  await a.stream({ to: leg.port, count: 25, ssrc: 1111 });
  await a.waitFor(20);
  t.is(leg.remote?.port, a.port);

  const b = await peer(t);
  const answer = await leg.updateRemote(makeOffer({ port: b.port, sessionVersion: 2 }));
  t.is(answeredPort(answer), leg.port);
  t.is(leg.state, 'latching');
  const sent = await b.stream({ to: leg.port, count: 50, ssrc: 2222 });
  await b.waitFor(sent - 3, 3000);
  t.true(b.received.length >= sent - 3, `${b.received.length} of ${sent} echoed to the new address`);
  t.deepEqual(leg.remote, { ip: '127.0.0.1', port: b.port, ssrc: 2222 });
  const stats = await leg.stats();
  t.true(stats.rtpPacketsIn >= 25 + sent - 4, `counters span both latches (${stats.rtpPacketsIn})`);
  t.is(stats.rtpPacketsOut, a.received.length + b.received.length);
});

test.serial('a new SSRC without signalling is detected and re-latched', async (t) => {
  const p = await peer(t);
  const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: p.port }), { inactivityMs: 2000 }));
  await leg.echo();
  await p.stream({ to: leg.port, count: 25, ssrc: 0xaaaa0001 });
  await p.waitFor(20);
  const before = p.received.length;
  const relatched = new Promise<void>((resolve) => leg.on('latched', (r) => r.ssrc === 0xaaaa0002 && resolve()));
  await p.stream({ to: leg.port, count: 100, ssrc: 0xaaaa0002, firstSequence: 5000 });
  await relatched;
  await p.waitFor(before + 30, 2000);
  const echoedNew = p.received.length - before;
  t.true(echoedNew >= 30, `${echoedNew} packets of the new SSRC echoed`);
  t.is(leg.remote?.ssrc, 0xaaaa0002);
});

test.serial('a re-offer changing the codec is renegotiated; one with no common codec is refused and changes nothing', async (t) => {
  const p = await peer(t);
  const leg = closing(t, await rig.media.createSipLeg(makeOffer({ port: p.port, formats: ['0 PCMU/8000'] })));
  await leg.echo();
  await p.stream({ to: leg.port, count: 20 });
  await p.waitFor(15);
  const before = leg.answerSdp;

  await t.throwsAsync(leg.updateRemote(makeOffer({ port: p.port, formats: ['18 G729/8000'], sessionVersion: 2 })), {
    instanceOf: NoCommonCodecError,
  });
  await t.throwsAsync(leg.updateRemote('v=0\r\nnonsense'), { instanceOf: SdpError });
  t.is(leg.answerSdp, before, 'refused re-offers leave our SDP as it was');
  t.is(leg.state, 'active');
  const n = p.received.length;
  await p.stream({ to: leg.port, count: 10, firstSequence: 2000 });
  await p.waitFor(n + 9);
  t.true(p.received.length >= n + 9, 'still echoing PCMU');

  const answer = await leg.updateRemote(makeOffer({ port: p.port, formats: ['8 PCMA/8000'], sessionVersion: 3 }));
  t.regex(answer, /^m=audio \d+ RTP\/AVP 8\r$/m);
  t.is(leg.negotiation.codec.name, 'PCMA');
  const m = p.received.length;
  // A new codec re-latches on the same port: the packets that come while the worker reopens the
  // transport are dropped, a window that a loaded machine stretches (30 packets once lost 14). So
  // 2 s of audio, of which 25 packets must come back.
  await p.stream({ to: leg.port, count: 100, payloadType: 8, payload: (i) => tonePayload(i, 'PCMA'), firstSequence: 3000 });
  await p.waitFor(m + 25, 3000);
  const pcma = p.received.slice(m);
  t.true(pcma.length >= 25, `${pcma.length} of 100 PCMA packets echoed`);
  t.true(pcma.every((r) => r.header.payloadType === 8));
});

for (const pt of [101, 96]) {
  test.serial(`RFC 4733 events at PT ${pt} are answered at that PT and received, but not echoed as audio`, async (t) => {
    const p = await peer(t);
    const offer = makeOffer({ port: p.port, formats: ['0 PCMU/8000', `${pt} telephone-event/8000`] });
    const leg = closing(t, await rig.media.createSipLeg(offer));
    t.regex(leg.answerSdp, new RegExp(`^m=audio \\d+ RTP/AVP 0 ${pt}\r$`, 'm'));
    await leg.echo();
    await p.stream({ to: leg.port, count: 10, ssrc: 77 });
    // Digit 1, volume 10: three updates and the end packet (RFC 4733 §2.5), on the audio SSRC.
    for (let i = 0; i < 4; i++) {
      const event = Buffer.from([1, i === 3 ? 0x80 | 10 : 10, 0, 160 * (i + 1)]);
      p.send(leg.port, writeRtpPacket({ marker: i === 0, payloadType: pt, sequence: 1010 + i, timestamp: 9600, ssrc: 77 }, event));
      await sleep(20);
    }
    await p.stream({ to: leg.port, count: 5, ssrc: 77, firstSequence: 1014 });
    await p.waitFor(14).catch(() => undefined);
    await sleep(200);
    // 14 audio packets can come back (all but the latching one); on a loaded machine one more may
    // fall in the latch hand-over. Never more than 14: the 4 events must not be echoed.
    t.true(p.received.length >= 12 && p.received.length <= 14, `${p.received.length} of 14 audio packets came back`);
    t.true(p.received.every((r) => r.header.payloadType === 0 && r.payload.length === 160), 'no event went back');
    // 15 audio packets and 4 events were sent: the events count as received (15 alone would be the
    // events dropped). The latching packet may be lost on a loaded machine, as above.
    const inCount = async () => (await leg.stats()).rtpPacketsIn;
    await waitFor(async () => ((await inCount()) >= 19 ? true : undefined), 1000).catch(() => undefined);
    const received = await inCount();
    t.true(received >= 18 && received <= 19, `the event packets were received: ${received} packets in`);
  });
}
