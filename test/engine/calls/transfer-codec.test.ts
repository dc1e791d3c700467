/**
 * A browser's Opus call cannot be bridged to a phone: mediasoup forwards, it does not transcode,
 * and phones speak G.711. The bridge fallback of a transfer says so at once (`no_common_codec`),
 * dials nobody, creates no leg, and the call's own leg goes on. (codec-choice.ts keeps Opus away
 * from agents that can transfer; this is the API's transfer of any other call.)
 */
import dgram from 'node:dgram';
import test from 'ava';
import Srf from 'drachtio-srf';
import { createLogger } from '../../../config/logger.js';
import { Call } from '../../../engine/calls/call.js';
import { dialAndBridge } from '../../../engine/calls/transfer-bridge.js';
import { opusAvailable } from '../../../media/audio/opus.js';
import { mediaRig, type MediaRig } from '../../helpers/media.js';
import { chromiumOffer } from '../../media/fixtures/webrtc-offers.js';

const log = createLogger({ level: 'silent', pretty: false });
let rig: MediaRig;
test.before(async () => {
  rig = await mediaRig();
});
test.after.always(() => rig?.close());

const maybe = opusAvailable() ? test.serial : test.serial.skip;

maybe(`an Opus browser call transferred to a phone: failed no_common_codec at once, nobody dialled, the call's leg untouched${opusAvailable() ? '' : ' (skipped: @evan/opus is not installed)'}`, async (t) => {
  const leg = await rig.media.createWebRtcLeg(chromiumOffer, { prefer: 'opus' });
  t.teardown(() => leg.close());
  t.is(leg.codec.name, 'opus');
  // The phone: a UDP socket that must never see an INVITE.
  const phone = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  phone.on('message', (m) => got.push(m));
  await new Promise<void>((resolve) => phone.bind(0, '127.0.0.1', resolve));
  t.teardown(() => phone.close());
  const call = new Call({ id: 'opus-call', tenantId: 't', mode: 'live', agentId: 'a', sipCallId: 'x@y' }, log);
  const target = { uri: `sip:phone@127.0.0.1:${phone.address().port}`, auth: null, media: 'rtp' as const };
  const before = rig.media.legs().length;
  const result = await dialAndBridge({ srf: new Srf(), media: rig.media }, call, leg, target, { ringMs: 1000, callingNumber: null, inactivityMs: 5000 });
  t.deepEqual(result, { kind: 'failed', reason: 'no_common_codec', status: null });
  await new Promise((r) => setTimeout(r, 200));
  t.is(got.length, 0, 'no INVITE went out');
  t.is(rig.media.legs().length, before, 'no transfer leg was made');
  t.false(leg.closed, 'the call goes on in its leg');
});
