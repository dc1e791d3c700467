/**
 * The listener with `http.tlsCertFile` / `http.tlsKeyFile`: HTTPS for the REST API, WSS for the
 * real-time WebSocket and SIP over WebSocket (what a browser on an https page needs), plain HTTP
 * refused; settings and files that cannot work stop the start with a clear message.
 */
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import test from 'ava';
import WebSocket from 'ws';
import { startApp } from '../../api/app.js';
import { loadConfig } from '../../config/load.js';
import { tempDir, testConfig, testLogger } from '../helpers/config.js';
import { selfSignedCert } from '../helpers/tls-cert.js';

const pem = selfSignedCert();
const tlsTest = typeof pem === 'string' ? test.skip : test;
if (typeof pem === 'string') test(`HTTPS tests skipped: ${pem}`, (t) => t.pass());

/** The certificate and key as files (uWS reads files). */
function pemFiles(): { cert: string; key: string } {
  if (typeof pem === 'string') throw new Error(pem);
  const dir = tempDir('as-https-');
  const files = { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') };
  fs.writeFileSync(files.cert, pem.cert);
  fs.writeFileSync(files.key, pem.key);
  return files;
}

function get(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** The first message on a new WebSocket after `send` (if any), or the reason it failed. */
function wsExchange(url: string, ca: Buffer, protocols: string[], send?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { ca });
    const timer = setTimeout(() => reject(new Error('no answer')), 5000);
    ws.once('open', () => (send === undefined ? (clearTimeout(timer), ws.close(), resolve('open')) : ws.send(send)));
    ws.once('message', (data: Buffer) => {
      clearTimeout(timer);
      ws.close();
      resolve(data.toString('utf8'));
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

tlsTest('with a certificate, the API is HTTPS and its WebSockets (real time, SIP) are WSS; plain HTTP gets nothing', async (t) => {
  const files = pemFiles();
  const config = testConfig({ http: { tlsCertFile: files.cert, tlsKeyFile: files.key } });
  const app = await startApp(config, testLogger(config));
  t.teardown(() => app.close());
  const ca = (pem as { ca: Buffer }).ca;
  const port = app.http.port;
  const health = await get(`https://127.0.0.1:${port}/api/v1/health`, ca);
  t.is(health.status, 200);
  t.like(JSON.parse(health.body), { status: 'ok' });
  // The real-time WebSocket answers an unauthenticated frame with its error frame.
  const rt = await wsExchange(`wss://127.0.0.1:${port}/api/v1/ws`, ca, [], JSON.stringify({ type: 'subscribe', id: 1, topics: ['tenant'] }));
  t.regex(rt, /"type":"error"/);
  // SIP over WSS: a REGISTER is challenged.
  const register = [
    'REGISTER sip:x.live SIP/2.0',
    'Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKhttps1',
    'Max-Forwards: 70',
    'To: <sip:alice@x.live>',
    'From: <sip:alice@x.live>;tag=1',
    'Call-ID: https-1',
    'CSeq: 1 REGISTER',
    'Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const answer = await wsExchange(`wss://127.0.0.1:${port}/sip`, ca, ['sip'], register);
  t.regex(answer, /^SIP\/2\.0 (401|404) /, answer.split('\r\n')[0]);
  // Plain HTTP on the TLS port: no HTTP answer.
  const plain = await fetch(`http://127.0.0.1:${port}/api/v1/health`).then(
    (r) => `answered ${r.status}`,
    (err: Error) => `failed: ${err.message}`,
  );
  t.regex(plain, /^failed/);
});

tlsTest('a certificate without its key, or files that are not PEM, stop the start with a clear message', async (t) => {
  const files = pemFiles();
  t.throws(() => loadConfig({ AS_HTTP_TLS_CERT_FILE: files.cert }), { message: /http\.tlsKeyFile \(AS_HTTP_TLS_KEY_FILE\): HTTPS needs both tlsCertFile and tlsKeyFile/ });
  const junk = path.join(tempDir('as-https-'), 'junk.pem');
  fs.writeFileSync(junk, 'not a certificate');
  const config = testConfig({ http: { tlsCertFile: junk, tlsKeyFile: files.key } });
  await t.throwsAsync(() => startApp(config, testLogger(config)), { message: /http TLS: .*junk\.pem/ });
});
