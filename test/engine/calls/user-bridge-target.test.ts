/**
 * Which calls to a registered user the engine bridges (engine/calls/registrar/bridge-targets.ts
 * `bridgeTargets`) and which it proxies, over real SDP: chromium-shaped WebRTC offers and plain
 * RTP offers, bindings of browsers (Contact transport=ws/wss) and devices.
 */
import test from 'ava';
import type { Binding } from '../../../engine/calls/registrar/bindings.js';
import { bridgeTargets } from '../../../engine/calls/registrar/bridge-targets.js';

const rtpOffer = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
const webRtcOffer = rtpOffer.replace('RTP/AVP', 'UDP/TLS/RTP/SAVPF');

let n = 0;
function binding(contact: string, protocol: string): Binding {
  n++;
  return { aor: 'sip:u@t.live', contact, callId: `c${n}`, cseq: 1, expires: 60, expiresAt: 0, registeredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)), flow: { protocol, address: '127.0.0.1', port: 5000 + n }, userAgent: null };
}

test('same media everywhere is proxied; a mismatch bridges every binding, newest first; no offer or an unreadable one is proxied', (t) => {
  const browser = binding('sip:u@a.invalid;transport=ws', 'ws');
  const secureBrowser = binding('sip:u@b.invalid;transport=wss', 'wss');
  const device = binding('sip:u@127.0.0.1:5070', 'udp');
  // A device that registered over a WebSocket but takes calls on UDP: its Contact decides.
  const deviceOverWs = binding('sip:u@127.0.0.1:5080', 'ws');
  t.is(bridgeTargets(webRtcOffer, [browser, secureBrowser]), null, 'browser to browsers: proxied');
  t.is(bridgeTargets(rtpOffer, [device, deviceOverWs]), null, 'phone to phones: proxied');
  t.deepEqual(bridgeTargets(rtpOffer, [browser]), [browser]);
  t.deepEqual(bridgeTargets(rtpOffer, [browser, secureBrowser]), [secureBrowser, browser], 'every binding, the newest first');
  t.deepEqual(bridgeTargets(webRtcOffer, [device]), [device]);
  t.deepEqual(bridgeTargets(rtpOffer, [secureBrowser, device]), [device, secureBrowser], 'a mismatch anywhere: every binding rings, each in its own media');
  t.is(bridgeTargets(undefined, [browser]), null, 'a late offer is proxied');
  t.is(bridgeTargets('   ', [browser]), null);
  t.is(bridgeTargets('not sdp at all\r\n', [browser]), null, 'an unreadable offer is proxied as before');
  t.is(bridgeTargets(rtpOffer, []), null);
});
