/**
 * `sip.server = thread`: the embedded SIP server in a worker thread of the engine. Call control
 * on the engine's loop connects to it over the drachtio wire protocol; health comes from the
 * thread; closing the app ends the thread and frees the SIP port.
 */
import dgram from 'node:dgram';
import test from 'ava';
import { startApp } from '../../../api/app.js';
import { testConfig, testLogger } from '../../helpers/config.js';

/** Sends an OPTIONS to 127.0.0.1:port over UDP; resolves with the status line, or null after 1 s. */
function options(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const done = (line: string | null) => {
      clearTimeout(timer);
      s.close();
      resolve(line);
    };
    const timer = setTimeout(() => done(null), 1000);
    s.on('message', (m) => done(m.toString().split('\r\n')[0]!));
    s.bind(0, '127.0.0.1', () => {
      const lp = s.address().port;
      s.send(
        [
          `OPTIONS sip:ping@127.0.0.1:${port} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${lp};branch=z9hG4bK-thread-${Date.now()}`,
          'Max-Forwards: 70',
          `From: <sip:t@127.0.0.1:${lp}>;tag=a1`,
          `To: <sip:ping@127.0.0.1:${port}>`,
          `Call-ID: thread-${Date.now()}@127.0.0.1`,
          'CSeq: 1 OPTIONS',
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
        port,
        '127.0.0.1',
      );
    });
  });
}

test('the SIP server runs in a thread: health, OPTIONS answered by call control, clean close', async (t) => {
  const config = testConfig({ sip: { server: 'thread', transports: ['udp'] } });
  const app = await startApp(config, testLogger(config));
  let closed = false;
  try {
    t.is(app.engine.sip, null);
    t.truthy(app.engine.sipThread);
    const health = (await (await fetch(`http://127.0.0.1:${app.http.port}/api/v1/health`)).json()) as {
      components: { sip: { status: string; server: string; callControl: string; transports: { protocol: string; port: number }[] } };
    };
    const sip = health.components.sip;
    t.like(sip, { status: 'up', server: 'thread', callControl: 'connected' });
    const port = sip.transports.find((x) => x.protocol === 'udp')!.port;
    t.true(port > 0);
    t.is(await options(port), 'SIP/2.0 200 OK');
    await app.close();
    closed = true;
    t.is(await options(port), null, 'nothing answers once the app is closed');
    // The thread let go of the port.
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, '127.0.0.1', () => resolve());
    });
    s.close();
  } finally {
    if (!closed) await app.close();
  }
});
