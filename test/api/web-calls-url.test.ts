/**
 * The WebSocket URL `POST /api/v1/calls/web` gives, by how the engine is set up: `wss:` on a TLS
 * listener (and a browser-like client opens it), the configured public URL over the Host, and 503
 * when SIP over WebSocket is not served. The identity's password reaches no log line (at debug
 * level), through its REGISTER.
 */
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import test from 'ava';
import WebSocket from 'ws';
import { startApp, type App } from '../../api/app.js';
import { createLogger } from '../../config/logger.js';
import { tempDir, testConfig, testLogger } from '../helpers/config.js';
import { connectSipWs, registerOverWs } from '../helpers/sip-ws-client.js';
import { request } from '../helpers/http.js';
import { seedTenant } from '../helpers/tenant.js';
import { selfSignedCert } from '../helpers/tls-cert.js';

const pem = selfSignedCert();

async function withApp(overrides: Record<string, unknown>, fn: (app: App, agentId: string, headers: Record<string, string>) => Promise<void>, logs?: string[]): Promise<void> {
  const config = testConfig(overrides);
  const log = logs ? createLogger(config.log, { write: (line: string) => void logs.push(line) }) : testLogger(config);
  const app = await startApp(config, log);
  try {
    const tenant = await seedTenant(app);
    const agent = app.engine.store.agents.create({ tenantId: tenant.tenantId, mode: 'live' }, { name: 'A', description: null, status: 'active', config: { prompt: { system: 'A' } } });
    await fn(app, agent.id, tenant.headers);
  } finally {
    await app.close();
  }
}

(typeof pem === 'string' ? test.skip : test)(`a TLS listener gives a wss: URL that a client opens${typeof pem === 'string' ? ` (skipped: ${pem})` : ''}`, async (t) => {
  if (typeof pem === 'string') return;
  const dir = tempDir('as-webcall-tls-');
  const files = { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') };
  fs.writeFileSync(files.cert, pem.cert);
  fs.writeFileSync(files.key, pem.key);
  await withApp({ http: { tlsCertFile: files.cert, tlsKeyFile: files.key } }, async (app, agentId, headers) => {
    const body = JSON.stringify({ agentId });
    const res = await new Promise<{ status: number; body: { websocketUrl: string } }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: app.http.port, method: 'POST', path: '/api/v1/calls/web', ca: pem.ca, headers: { ...headers, 'content-type': 'application/json' } }, (r) => {
        let text = '';
        r.on('data', (c: Buffer) => (text += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode!, body: JSON.parse(text) as { websocketUrl: string } }));
      });
      req.on('error', reject);
      req.end(body);
    });
    t.is(res.status, 201);
    t.is(res.body.websocketUrl, `wss://127.0.0.1:${app.http.port}/sip`);
    const ws = new WebSocket(res.body.websocketUrl, ['sip'], { ca: pem.ca });
    const protocol = await new Promise<string>((resolve, reject) => {
      ws.once('open', () => resolve(ws.protocol));
      ws.once('error', reject);
    });
    ws.close();
    t.is(protocol, 'sip');
  });
});

test('a configured public URL wins over the Host, its path kept', async (t) => {
  await withApp({ webCalls: { publicUrl: 'https://voice.example.com/base/' } }, async (app, agentId, headers) => {
    const res = await request<{ websocketUrl: string }>(`http://127.0.0.1:${app.http.port}`, 'POST', '/api/v1/calls/web', { headers, body: { agentId } });
    t.is(res.status, 201);
    t.is(res.body.websocketUrl, 'wss://voice.example.com/base/sip');
  });
});

test('without SIP over WebSocket: 503 service_unavailable, and no identity is issued', async (t) => {
  await withApp({ sip: { transports: ['udp', 'tcp'] } }, async (app, agentId, headers) => {
    const res = await request<{ error: { code: string; message: string } }>(`http://127.0.0.1:${app.http.port}`, 'POST', '/api/v1/calls/web', { headers, body: { agentId } });
    t.is(res.status, 503);
    t.is(res.body.error.code, 'service_unavailable');
    t.is(app.engine.webIdentities.size, 0);
  });
});

test("the identity's password is in the answer only: no log line at debug level holds it, through its REGISTER", async (t) => {
  const logs: string[] = [];
  await withApp(
    { log: { level: 'debug' } },
    async (app, agentId, headers) => {
      const res = await request<{ websocketUrl: string; target: string; sip: { uri: string; username: string; password: string; realm: string } }>(`http://127.0.0.1:${app.http.port}`, 'POST', '/api/v1/calls/web', { headers, body: { agentId } });
      t.is(res.status, 201);
      const { sip } = res.body;
      const c = await connectSipWs(res.body.websocketUrl);
      t.teardown(() => c.close());
      const domain = sip.uri.split('@')[1]!;
      const reg = await registerOverWs(c, { user: sip.username, password: sip.password, domain, realm: sip.realm, callId: 'pw-reg@test', cseq: 1, contacts: [`<sip:${sip.username}@x.invalid;transport=ws>`] });
      t.is(reg.status, 200);
      t.true(logs.some((l) => l.includes(sip.username)), 'the identity itself is logged (its username)');
      t.false(logs.some((l) => l.includes(sip.password)), 'its password is not');
      t.log(`${logs.length} log lines checked`);
    },
    logs,
  );
});
