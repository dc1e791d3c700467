import test from 'ava';
import { g711Decode, g711Encode, g711Silence } from '../../media/audio/g711.js';
import { rms, sine } from '../../media/audio/tone.js';
import { readRtpHeader, writeRtpPacket } from '../../media/rtp/packet.js';

const all = Uint8Array.from({ length: 256 }, (_, i) => i);

test('μ-law reference points (G.711 table 2): silence, full scale, sign', (t) => {
  const enc = (s: number) => g711Encode('PCMU', Int16Array.of(s))[0];
  t.is(enc(0), 0xff);
  t.is(enc(32767), 0x80);
  t.is(enc(-32768), 0x00);
  t.is(enc(1), 0xff);
  t.is(enc(-1), 0x7e, 'the reference shifts -1 to -1, one step below zero');
  const dec = g711Decode('PCMU', Uint8Array.of(0xff, 0x7f, 0x80, 0x00));
  t.deepEqual([...dec], [0, 0, 32124, -32124]);
  t.is(g711Silence.PCMU, 0xff);
});

test('A-law reference points (G.711 table 1): silence, full scale, sign', (t) => {
  const enc = (s: number) => g711Encode('PCMA', Int16Array.of(s))[0];
  t.is(enc(0), 0xd5);
  t.is(enc(-8), 0x55);
  t.is(enc(32767), 0xaa);
  t.is(enc(-32768), 0x2a);
  t.deepEqual([...g711Decode('PCMA', Uint8Array.of(0xd5, 0x55, 0xaa, 0x2a))], [8, -8, 32256, -32256]);
  t.is(g711Silence.PCMA, 0xd5);
});

for (const law of ['PCMU', 'PCMA'] as const) {
  test(`${law}: every code word survives decode then encode, and decoding is monotonic`, (t) => {
    const back = g711Encode(law, g711Decode(law, all));
    // μ-law has two zeros (0xFF, 0x7F); the encoder writes the positive one.
    const expected = [...all].map((c) => (law === 'PCMU' && c === 0x7f ? 0xff : c));
    t.deepEqual([...back], expected);
    const levels = [...g711Decode(law, all)].sort((a, b) => a - b);
    t.is(new Set(levels).size, law === 'PCMU' ? 255 : 256);
  });

  test(`${law}: a 1 kHz tone keeps a signal-to-noise ratio above 30 dB`, (t) => {
    const pcm = sine(1000, 200, { amplitude: 0.5 });
    const out = g711Decode(law, g711Encode(law, pcm));
    const noise = Int16Array.from(pcm, (s, i) => s - out[i]!);
    const snr = 20 * Math.log10(rms(pcm) / rms(noise));
    t.true(snr > 30, `SNR ${snr.toFixed(1)} dB`);
    t.log(`${law} SNR ${snr.toFixed(1)} dB`);
  });
}

test('RTP header: written and read back; RTCP, short and wrong-version datagrams are not RTP', (t) => {
  const p = writeRtpPacket({ marker: true, payloadType: 8, sequence: 65535, timestamp: 0xfffffff0, ssrc: 0xdeadbeef }, Buffer.alloc(160, 0xd5));
  t.deepEqual(readRtpHeader(p), {
    marker: true,
    payloadType: 8,
    sequence: 65535,
    timestamp: 0xfffffff0,
    ssrc: 0xdeadbeef,
    payloadOffset: 12,
    payloadLength: 160,
  });
  // One-byte header extension (X bit, RFC 8285) of one word, and two bytes of padding.
  const ext = Buffer.concat([Buffer.from([0x90 | 0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0x10, 0x30, 0, 0]), Buffer.from([7, 7, 0, 2])]);
  t.like(readRtpHeader(ext), { payloadOffset: 20, payloadLength: 2 });
  const rtcp = Buffer.from([0x80, 200, 0, 6, 0, 0, 0, 1, ...new Array(20).fill(0)]);
  t.is(readRtpHeader(rtcp), null, 'RTCP SR (RFC 5761 §4 demultiplexing)');
  t.is(readRtpHeader(Buffer.alloc(8)), null);
  t.is(readRtpHeader(Buffer.from([0x40, 0, ...new Array(10).fill(0)])), null, 'version 1');
});
