/**
 * What mediasoup 3.12.16 does with RFC 4733 telephone-events on their way out to a SIP peer,
 * measured on a real worker: the facts `media/rtp-parameters.ts` (`eventCarrierOut`) relies on.
 * If an upgrade changes one, the test that fails says which design choice to revisit.
 */
import test from 'ava';
import type { types as ms } from 'mediasoup';
import { agentRtpParameters, eventCarrierOut, peerRtpCapabilities, routerMediaCodecs } from '../../media/rtp-parameters.js';
import { writeRtpPacket } from '../../media/rtp/packet.js';
import { g711Codecs } from '../../media/sdp/types.js';
import { mediaRig, peer, sleep, type MediaRig } from '../helpers/media.js';
import type { RtpPeer } from '../helpers/rtp-peer.js';

let rig: MediaRig;
test.before(async () => {
  rig = await mediaRig({ media: { workers: 1 } });
});
test.after.always(() => rig?.close());

const pcmu: ms.RtpCodecCapability = { kind: 'audio', mimeType: 'audio/PCMU', clockRate: 8000, preferredPayloadType: 0, channels: 1 };

/** A router, a DirectTransport to produce on, a PlainTransport sending to `p`, and what `p` heard from it. */
async function rig2(t: { teardown(fn: () => void): void }, codecs: ms.RtpCodecCapability[], p: RtpPeer) {
  const router = await rig.pool.pick().createRouter({ mediaCodecs: codecs });
  t.teardown(() => router.close());
  const direct = await router.createDirectTransport();
  const plain = await router.createPlainTransport({ listenIp: { ip: '127.0.0.1' }, rtcpMux: true, comedia: false });
  await plain.connect({ ip: '127.0.0.1', port: p.port });
  /** What the peer heard from this transport only: its ephemeral port may have had another test process's packets. */
  const heard = () => p.receivedFrom(plain.tuple.localPort);
  return { router, direct, plain, heard };
}

/** 10 audio packets at PT 0 then 10 event packets at `eventPt`, one SSRC, one sequence space. */
async function sendMixed(producers: { audio: ms.Producer; events: ms.Producer }, eventPt: number): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const isEvent = i >= 10;
    const payload = isEvent ? Buffer.from([5, i === 19 ? 0x8a : 0x0a, 0, 160]) : Buffer.alloc(160, 0xff);
    const packet = writeRtpPacket({ marker: i === 10, payloadType: isEvent ? eventPt : 0, sequence: 100 + i, timestamp: isEvent ? 1600 : 160 * i, ssrc: 7 }, payload);
    (isEvent ? producers.events : producers.audio).send(packet);
    await sleep(5);
  }
  await sleep(150);
}

test.serial('audio/telephone-event in the Producer and the Consumer: the Consumer drops the events', async (t) => {
  const p = await peer(t);
  const te: ms.RtpCodecCapability = { kind: 'audio', mimeType: 'audio/telephone-event', clockRate: 8000, preferredPayloadType: 101 };
  const { direct, plain, heard } = await rig2(t, [pcmu, te], p);
  const producer = await direct.produce({
    kind: 'audio',
    rtpParameters: {
      codecs: [
        { mimeType: 'audio/PCMU', payloadType: 0, clockRate: 8000, channels: 1 },
        { mimeType: 'audio/telephone-event', payloadType: 101, clockRate: 8000 },
      ],
      encodings: [{ ssrc: 7 }],
    },
  });
  const consumer = await plain.consume({ producerId: producer.id, rtpCapabilities: { codecs: [pcmu, te], headerExtensions: [] } });
  t.deepEqual(
    consumer.rtpParameters.codecs.map((c) => `${c.mimeType}/${c.payloadType}`),
    ['audio/PCMU/0', 'audio/telephone-event/101'],
    'the Consumer is created with telephone-event in its parameters',
  );
  await sendMixed({ audio: producer, events: producer }, 101);
  const pts = heard().map((r) => r.header.payloadType);
  t.is(pts.filter((x) => x === 0).length, 10, 'audio forwarded');
  t.is(pts.filter((x) => x === 101).length, 0, 'events not forwarded (Consumer.cpp: supportedCodecPayloadTypes holds media codecs only)');
  t.log(`forwarded: ${pts.filter((x) => x === 0).length}/10 audio, ${pts.filter((x) => x === 101).length}/10 events`);
});

test.serial('a Producer whose only codec is audio/telephone-event cannot be consumed', async (t) => {
  const p = await peer(t);
  const te: ms.RtpCodecCapability = { kind: 'audio', mimeType: 'audio/telephone-event', clockRate: 8000, preferredPayloadType: 101 };
  const { direct, plain } = await rig2(t, [pcmu, te], p);
  let produced: ms.Producer | null = null;
  let produceError = '';
  try {
    produced = await direct.produce({
      kind: 'audio',
      rtpParameters: { codecs: [{ mimeType: 'audio/telephone-event', payloadType: 101, clockRate: 8000 }], encodings: [{ ssrc: 8 }] },
    });
  } catch (e) {
    produceError = (e as Error).message;
  }
  let consumeError = '';
  if (produced) {
    try {
      await plain.consume({ producerId: produced.id, rtpCapabilities: { codecs: [pcmu, te], headerExtensions: [] } });
    } catch (e) {
      consumeError = (e as Error).message;
    }
  }
  t.log(`produce: ${produceError || 'accepted'}; consume: ${consumeError || (produced ? 'accepted' : 'not tried')}`);
  t.true(Boolean(produceError || consumeError), 'one of the two refuses');
});

test.serial('events declared as a spare media codec at the peer\'s payload type go out on the audio stream, untouched', async (t) => {
  const p = await peer(t);
  // G.722 is the carrier here, routed at 101: the router's payload type is what the Consumer sends.
  const carrier: ms.RtpCodecCapability = { kind: 'audio', mimeType: 'audio/G722', clockRate: 8000, preferredPayloadType: 101, channels: 1 };
  const { direct, plain, heard } = await rig2(t, [pcmu, carrier], p);
  const producer = await direct.produce({
    kind: 'audio',
    rtpParameters: {
      codecs: [
        { mimeType: 'audio/PCMU', payloadType: 0, clockRate: 8000, channels: 1 },
        { mimeType: 'audio/G722', payloadType: 101, clockRate: 8000, channels: 1 },
      ],
      encodings: [{ ssrc: 7 }],
    },
  });
  await plain.consume({ producerId: producer.id, rtpCapabilities: { codecs: [pcmu, carrier], headerExtensions: [] } });
  await sendMixed({ audio: producer, events: producer }, 101);
  const got = heard();
  t.is(got.length, 20, 'every packet forwarded');
  t.deepEqual(got.map((r) => r.header.payloadType), [...Array<number>(10).fill(0), ...Array<number>(10).fill(101)]);
  t.is(new Set(got.map((r) => r.header.ssrc)).size, 1, 'one SSRC (the Consumer\'s) for audio and events');
  t.true(got.slice(1).every((r, i) => r.header.sequence === ((got[i]!.header.sequence + 1) & 0xffff)), 'one sequence space');
  t.deepEqual(got.map((r) => r.header.timestamp), [...Array.from({ length: 10 }, (_, i) => 160 * i), ...Array<number>(10).fill(1600)], 'timestamps kept');
  t.true(got[10]!.header.marker && !got[11]!.header.marker, 'marker kept');
  t.deepEqual([...got[19]!.payload], [5, 0x8a, 0, 160], 'payload untouched');
});

test.serial('the stream is created only by a packet of the first codec: events before any audio are dropped', async (t) => {
  const p = await peer(t);
  const carrier: ms.RtpCodecCapability = { kind: 'audio', mimeType: 'audio/G722', clockRate: 8000, preferredPayloadType: 101, channels: 1 };
  const { direct, plain, heard } = await rig2(t, [pcmu, carrier], p);
  const producer = await direct.produce({
    kind: 'audio',
    rtpParameters: {
      codecs: [
        { mimeType: 'audio/PCMU', payloadType: 0, clockRate: 8000, channels: 1 },
        { mimeType: 'audio/G722', payloadType: 101, clockRate: 8000, channels: 1 },
      ],
      encodings: [{ ssrc: 7 }],
    },
  });
  await plain.consume({ producerId: producer.id, rtpCapabilities: { codecs: [pcmu, carrier], headerExtensions: [] } });
  for (let i = 0; i < 3; i++) producer.send(writeRtpPacket({ marker: i === 0, payloadType: 101, sequence: 1 + i, timestamp: 0, ssrc: 7 }, Buffer.from([1, 10, 0, 160])));
  await sleep(150);
  t.is(heard().length, 0, 'no stream yet (Producer::GetRtpStream matches the first codec\'s payload type)');
  producer.send(writeRtpPacket({ marker: true, payloadType: 0, sequence: 4, timestamp: 160, ssrc: 7 }, Buffer.alloc(160, 0xff)));
  producer.send(writeRtpPacket({ marker: true, payloadType: 101, sequence: 5, timestamp: 320, ssrc: 7 }, Buffer.from([1, 10, 0, 160])));
  await sleep(150);
  t.deepEqual(heard().map((r) => r.header.payloadType), [0, 101], 'after one audio packet, events pass');
});

test.serial('every payload type of the carrier table reaches the peer at that type, on the engine\'s own router codecs', async (t) => {
  const p = await peer(t);
  const { direct, plain, heard } = await rig2(t, routerMediaCodecs, p);
  const producer = await direct.produce({ kind: 'audio', rtpParameters: agentRtpParameters(g711Codecs.PCMU, 7) });
  const pts = [96, 97, 98, 100, 101, 102, 110, 126, 127];
  t.true(pts.every((pt) => eventCarrierOut(pt) !== null) && eventCarrierOut(99) === null && eventCarrierOut(0) === null);
  producer.send(writeRtpPacket({ marker: true, payloadType: 0, sequence: 1, timestamp: 0, ssrc: 7 }, Buffer.alloc(160, 0xff)));
  for (const [i, pt] of pts.entries()) {
    const consumer = await plain.consume({ producerId: producer.id, rtpCapabilities: peerRtpCapabilities({ codec: g711Codecs.PCMU, telephoneEvent: { payloadType: pt, events: '0-16' } }) });
    const before = heard().length;
    producer.send(writeRtpPacket({ marker: true, payloadType: pt, sequence: 2 + i, timestamp: 160 * (i + 1), ssrc: 7 }, Buffer.from([i, 0x8a, 0, 160])));
    await sleep(80);
    const got = heard().slice(before).filter((r) => r.header.ssrc === consumer.rtpParameters.encodings![0]!.ssrc && r.header.payloadType !== 0);
    t.deepEqual(got.map((r) => [r.header.payloadType, r.payload[0]]), [[pt, i]], `payload type ${pt}`);
    consumer.close();
  }
});
