/** SIP readiness probe of benchmark peers: one OPTIONS over UDP on loopback. */
import dgram from 'node:dgram';

/** True when 127.0.0.1:`port` answers an OPTIONS with 200 within 300 ms. */
export function answersOptions(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 300);
    s.on('message', (m) => done(m.toString().startsWith('SIP/2.0 200')));
    s.bind(0, '127.0.0.1', () => {
      const lp = s.address().port;
      const msg = [
        `OPTIONS sip:ping@127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${lp};branch=z9hG4bK-ping${Date.now()}`,
        'Max-Forwards: 70',
        `From: <sip:bench@127.0.0.1:${lp}>;tag=ping`,
        `To: <sip:ping@127.0.0.1:${port}>`,
        `Call-ID: ping-${Date.now()}@127.0.0.1`,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      s.send(msg, port, '127.0.0.1');
    });
  });
}
