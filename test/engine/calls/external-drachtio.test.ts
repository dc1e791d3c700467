/**
 * `sip.server: external`: the engine runs no SIP stack of its own and connects call control to a
 * drachtio server elsewhere. Here that server is our embedded one run on its own (as a SIP front
 * node would be in a scale-out); the call-control code is the same either way.
 */
import net from 'node:net';
import test from 'ava';
import { startEmbeddedSipServer } from '../../../engine/sip/drachtio/embedded-server.js';
import { request, waitFor } from '../../helpers/http.js';
import { calls, inboundSetup, scenario } from '../../helpers/inbound.js';
import { testConfig, testLogger } from '../../helpers/config.js';
import { runSipp, sippMissing } from '../../helpers/sipp.js';

const missing = sippMissing();
if (missing) test('external drachtio tests are skipped: ' + missing, (t) => t.pass());

(missing ? test.skip : test)('an engine connected to an external drachtio server answers calls through it', async (t) => {
  const frontConfig = testConfig({ sip: { drachtioSecret: 'front-secret' } });
  const front = await startEmbeddedSipServer(frontConfig.sip, testLogger(frontConfig));
  t.teardown(() => front.close());
  const sipPort = front.stack.listening()[0]!.port;

  const s = await inboundSetup(
    { sip: { server: 'external', drachtioHost: '127.0.0.1', drachtioPort: front.control.port, drachtioSecret: 'front-secret' } },
    { allowlist: ['127.0.0.1'] },
    'service',
    sipPort,
  );
  t.teardown(() => s.close());
  t.is(s.app.engine.sip, null, 'no SIP stack inside the engine');
  const health = await request<{ components: { sip: Record<string, unknown> } }>(s.base, 'GET', '/api/v1/health');
  t.like(health.body.components.sip, { status: 'up', server: 'external', callControl: 'connected', drachtio: `127.0.0.1:${front.control.port}` });
  t.is(front.drachtio.stats().apps, 1);

  const r = await runSipp({ transport: 'u1', target: `127.0.0.1:${sipPort}`, scenario: scenario('inbound-pcap.xml', { holdMs: 2000 }), args: [] });
  t.is(r.code, 0, r.output + r.errors);
  const call = await waitFor(async () => (await calls(s)).find((c) => c.endReason), 10_000);
  t.like(call, { status: 'completed', endReason: 'caller_hangup' });
  t.true(call.rtpStats.packetsSent! > 10, JSON.stringify(call.rtpStats));
});

(missing ? test.skip : test)('with the external server gone, health says sip is down', async (t) => {
  const frontConfig = testConfig({ sip: { drachtioSecret: 'front-secret' } });
  const front = await startEmbeddedSipServer(frontConfig.sip, testLogger(frontConfig));
  const s = await inboundSetup(
    { sip: { server: 'external', drachtioHost: '127.0.0.1', drachtioPort: front.control.port, drachtioSecret: 'front-secret' } },
    { allowlist: ['127.0.0.1'] },
    'service',
    front.stack.listening()[0]!.port,
  );
  t.teardown(() => s.close());
  await front.close();
  const down = await waitFor(async () => {
    const h = await request<{ components: { sip: Record<string, unknown> } }>(s.base, 'GET', '/api/v1/health');
    return h.status === 503 ? h : undefined;
  });
  t.like(down.body.components.sip, { status: 'down', server: 'external', error: 'not connected to the drachtio server' });
});

(missing ? test.skip : test)('closed while the external server is gone, call control stops reconnecting (at most the attempt already scheduled)', async (t) => {
  const frontConfig = testConfig({ sip: { drachtioSecret: 'front-secret' } });
  const front = await startEmbeddedSipServer(frontConfig.sip, testLogger(frontConfig));
  const port = front.control.port;
  const s = await inboundSetup(
    { sip: { server: 'external', drachtioHost: '127.0.0.1', drachtioPort: port, drachtioSecret: 'front-secret' } },
    { allowlist: ['127.0.0.1'] },
    'service',
    front.stack.listening()[0]!.port,
  );
  await front.close();
  await waitFor(() => !s.app.engine.calls.connected);
  // Let drachtio-srf's backoff grow past its first quick retries, then close the engine.
  await new Promise((r) => setTimeout(r, 1500));
  await s.close();
  // Where the server was, a listener that counts (and drops) every connection attempt.
  let attempts = 0;
  const trap = net.createServer((sock) => {
    attempts++;
    sock.destroy();
  });
  t.teardown(() => trap.close());
  await new Promise<void>((r) => trap.listen(port, '127.0.0.1', () => r()));
  await new Promise((r) => setTimeout(r, 8000));
  t.log(`connection attempts in the 8 s after close: ${attempts}`);
  t.true(attempts <= 1, `${attempts} attempts after close`);
});
