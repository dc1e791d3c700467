/**
 * baresip (Debian) dials the engine: the call is answered, and the 440 Hz tone baresip sends
 * comes back to it through the mediasoup echo, as audio it decodes and records.
 */
import { spawnSync } from 'node:child_process';
import test from 'ava';
import { baresipDial, wavRms } from '../../helpers/baresip.js';
import { waitFor } from '../../helpers/http.js';
import { calls, inboundSetup } from '../../helpers/inbound.js';

const missing = spawnSync('baresip', ['-h']).error ? 'baresip is not installed' : null;
if (missing) test('baresip tests are skipped: ' + missing, (t) => t.pass());

for (const codec of ['PCMU', 'PCMA']) {
  (missing ? test.skip : test.serial)(`baresip dials in (${codec}), is answered, and hears its own tone echoed`, async (t) => {
    const s = await inboundSetup();
    t.teardown(() => s.close());
    const r = await baresipDial(`sip:service@${s.sipTarget}`, { seconds: 4, codecs: codec });
    t.regex(r.output, /Call established/, r.output);
    t.regex(r.output, new RegExp(`Set audio decoder: ${codec} 8000Hz`));
    t.truthy(r.receivedWav, 'baresip recorded what it received');
    const sent = wavRms(r.sentWav!, 500);
    const heard = wavRms(r.receivedWav!, 500);
    t.log(`tone sent rms ${sent.rms.toFixed(0)}, heard back rms ${heard.rms.toFixed(0)} over ${heard.seconds.toFixed(1)} s`);
    // G.711 round trip keeps the level within a few percent; silence would be ~0.
    t.true(heard.seconds > 2, `heard ${heard.seconds} s`);
    t.true(heard.rms > sent.rms * 0.8 && heard.rms < sent.rms * 1.2, `heard rms ${heard.rms} vs sent ${sent.rms}`);
    const call = await waitFor(async () => (await calls(s)).find((c) => c.endReason), 10_000);
    t.like(call, { status: 'completed', endReason: 'caller_hangup', hangupBy: 'caller' });
    t.true(call.rtpStats.packetsReceived! > 100 && call.rtpStats.packetsSent! > 100, JSON.stringify(call.rtpStats));
  });
}
