import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { ConfigError, envName, loadConfig, settingPaths } from '../../config/load.js';
import { tempDir } from '../helpers/config.js';

/** The issues a bad environment produces, as "field: message" lines. */
function issues(env: Record<string, string>): { field: string; message: string }[] {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

test('defaults are valid and documented env names map to settings', (t) => {
  const c = loadConfig({});
  t.is(c.http.port, 8000);
  t.is(c.sip.port, 5060);
  t.deepEqual(c.sip.transports, ['udp', 'tcp', 'ws']);
  t.is(c.sip.wsPath, '/sip');
  t.true(settingPaths().some((p) => envName(p) === 'AS_SIP_T1_MS'));
  t.true(settingPaths().some((p) => envName(p) === 'AS_HTTP_MAX_BODY_BYTES'));
  t.deepEqual(c.externalAgents, { connectTimeoutMs: 5000, maxBufferedBytes: 262_144 });
  t.is(loadConfig({ AS_EXTERNAL_AGENTS_CONNECT_TIMEOUT_MS: '1500' }).externalAgents.connectTimeoutMs, 1500);
  // Call control reaches the embedded server in-process unless TCP is asked for.
  t.is(c.sip.drachtioChannel, 'in-process');
  t.is(loadConfig({ AS_SIP_DRACHTIO_CHANNEL: 'tcp' }).sip.drachtioChannel, 'tcp');
  t.throws(() => loadConfig({ AS_SIP_DRACHTIO_CHANNEL: 'udp' }), { message: /sip\.drachtioChannel/ });
});

test('env values are coerced to their types', (t) => {
  const c = loadConfig({ AS_HTTP_PORT: '9000', AS_SIP_TRANSPORTS: 'udp, tcp', AS_LOG_PRETTY: 'false', AS_SIP_T1_MS: '50' });
  t.is(c.http.port, 9000);
  t.deepEqual(c.sip.transports, ['udp', 'tcp']);
  t.false(c.log.pretty);
  t.is(c.sip.t1Ms, 50);
});

const bad: [string, Record<string, string>, string, RegExp][] = [
  ['not a number', { AS_HTTP_PORT: 'eighty' }, 'http.port (AS_HTTP_PORT)', /number/i],
  ['port out of range', { AS_SIP_PORT: '70000' }, 'sip.port (AS_SIP_PORT)', /65535/],
  ['negative', { AS_RTP_MIN_PORT: '-1' }, 'rtp.minPort (AS_RTP_MIN_PORT)', />=\s*0/],
  ['not an integer', { AS_MEDIA_WORKERS: '1.5' }, 'media.workers (AS_MEDIA_WORKERS)', /int/i],
  ['bad enum', { AS_LOG_LEVEL: 'loud' }, 'log.level (AS_LOG_LEVEL)', /trace|expected/i],
  ['bad transport in a list', { AS_SIP_TRANSPORTS: 'udp,sctp' }, 'sip.transports.1 (AS_SIP_TRANSPORTS)', /udp|expected/i],
  ['bad IP', { AS_RTP_ANNOUNCED_IP: 'my-host' }, 'rtp.announcedIp (AS_RTP_ANNOUNCED_IP)', /ip|invalid/i],
  ['bad boolean', { AS_LOG_PRETTY: 'maybe' }, 'log.pretty (AS_LOG_PRETTY)', /boolean/i],
  ['short secret', { AS_AUTH_JWT_SECRET: 'short' }, 'auth.jwtSecret (AS_AUTH_JWT_SECRET)', /32/],
  ['bad email', { AS_BOOTSTRAP_OWNER_EMAIL: 'nope', AS_BOOTSTRAP_TENANT_NAME: 'x', AS_BOOTSTRAP_OWNER_PASSWORD: 'long-enough-pass' }, 'bootstrap.ownerEmail (AS_BOOTSTRAP_OWNER_EMAIL)', /email/i],
  ['unknown variable', { AS_HTTP_PROT: '80' }, 'AS_HTTP_PROT', /unknown setting/],
  ['min above max', { AS_RTP_MIN_PORT: '50000', AS_RTP_MAX_PORT: '40000' }, 'rtp.minPort (AS_RTP_MIN_PORT)', /rtp.maxPort/],
  ['tls without certificate', { AS_SIP_TRANSPORTS: 'udp,tls' }, 'sip.tlsCertFile (AS_SIP_TLS_CERT_FILE)', /tlsCertFile/],
  ['t1 above t2', { AS_SIP_T1_MS: '5000', AS_SIP_T2_MS: '4000' }, 'sip.t1Ms (AS_SIP_T1_MS)', /t2Ms/],
  ['half the key pair', { AS_AUTH_JWT_PRIVATE_KEY_FILE: '/k.pem' }, 'auth.jwtPublicKeyFile (AS_AUTH_JWT_PUBLIC_KEY_FILE)', /both/],
  ['partial bootstrap', { AS_BOOTSTRAP_TENANT_NAME: 'acme' }, 'bootstrap (AS_BOOTSTRAP)', /together/],
];

for (const [name, env, field, message] of bad) {
  test(`rejects ${name}, naming the field`, (t) => {
    const found = issues(env).find((i) => i.field === field);
    t.truthy(found, `no issue for ${field} in ${JSON.stringify(issues(env))}`);
    t.regex(found!.message, message);
  });
}

test('every bad field is reported at once', (t) => {
  const list = issues({ AS_HTTP_PORT: 'x', AS_SIP_PORT: '99999', AS_LOG_LEVEL: 'loud' });
  t.deepEqual(list.map((i) => i.field).sort(), ['http.port (AS_HTTP_PORT)', 'log.level (AS_LOG_LEVEL)', 'sip.port (AS_SIP_PORT)']);
});

test('a JSON file is read, env overrides it, unknown keys in it are rejected', (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'c.json');
  fs.writeFileSync(file, JSON.stringify({ http: { port: 7000, host: '127.0.0.1' }, sip: { port: 5070 } }));
  const c = loadConfig({ AS_CONFIG: file, AS_SIP_PORT: '5080' });
  t.is(c.http.port, 7000);
  t.is(c.sip.port, 5080);

  fs.writeFileSync(file, JSON.stringify({ http: { prot: 1 } }));
  t.true(issues({ AS_CONFIG: file }).some((i) => i.field.startsWith('http') && /prot/.test(i.message)));

  fs.writeFileSync(file, '{ not json');
  t.true(issues({ AS_CONFIG: file }).some((i) => i.field === 'AS_CONFIG' && /not a JSON object/.test(i.message)));
  t.true(issues({ AS_CONFIG: path.join(dir, 'missing.json') }).some((i) => i.field === 'AS_CONFIG' && /cannot read/.test(i.message)));
});

test('the error message lists every issue on its own line', (t) => {
  const e = t.throws(() => loadConfig({ AS_HTTP_PORT: 'x', AS_LOG_LEVEL: 'loud' }), { instanceOf: ConfigError });
  t.regex(e!.message, /invalid configuration:\n {2}- .*AS_HTTP_PORT.*\n {2}- .*AS_LOG_LEVEL/);
});

test('web calls: ICE servers as JSON from env, checked; a public URL must be http(s)', (t) => {
  t.deepEqual(loadConfig({}).webCalls, { iceServers: [], tenantMaxIdentities: 200 });
  const c = loadConfig({ AS_WEB_CALLS_ICE_SERVERS: '[{"urls":"stun:stun.example.com:3478"},{"urls":["turn:turn.example.com"],"username":"u","credential":"p"}]', AS_WEB_CALLS_PUBLIC_URL: 'https://voice.example.com' });
  t.deepEqual(c.webCalls.iceServers, [{ urls: 'stun:stun.example.com:3478' }, { urls: ['turn:turn.example.com'], username: 'u', credential: 'p' }]);
  t.is(c.webCalls.publicUrl, 'https://voice.example.com');
  t.true(issues({ AS_WEB_CALLS_ICE_SERVERS: 'not json' }).some((i) => i.field === 'webCalls.iceServers (AS_WEB_CALLS_ICE_SERVERS)'));
  t.true(issues({ AS_WEB_CALLS_ICE_SERVERS: '[{"urls":"http://x"}]' }).some((i) => i.field.startsWith('webCalls.iceServers.0.urls')));
  t.true(issues({ AS_WEB_CALLS_PUBLIC_URL: 'ftp://x' }).some((i) => i.field === 'webCalls.publicUrl (AS_WEB_CALLS_PUBLIC_URL)'));
});
