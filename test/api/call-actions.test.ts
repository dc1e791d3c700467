/**
 * Live call actions over REST (`POST /api/v1/calls/{id}/say|dtmf|mute|unmute|transfer`) and the
 * WebSocket (`say`, `dtmf`, `mute`, `transfer`), on a real call from SIPp through the whole
 * engine. Without an agent runtime every action is a 409; with a `CallActions` attached to the
 * live `Call` (a recorder standing in for the runtime, which is not ours to fake here: it is the
 * seam the runtime plugs into), both surfaces reach it with the right arguments, a
 * `CallActionRefused` becomes a 409 with its message, bad arguments are 422 and another tenant's
 * call is 404. After the call ends, every action is a 409 "not live".
 */
import test from 'ava';
import { CallActionRefused, type CallActions } from '../../engine/calls/call.js';
import { envelope, client, type Client } from '../helpers/resources.js';
import { inboundSetup, scenario, type InboundSetup } from '../helpers/inbound.js';
import { runSipp, sippMissing } from '../helpers/sipp.js';
import { mintKey, seedTenant, userWithRole } from '../helpers/tenant.js';
import { WsClient, type Frame } from './realtime/ws-client.js';

const missing = sippMissing();
const sippTest = missing ? test.skip : test.serial;
if (missing) test('call action tests with SIPp calls are skipped: ' + missing, (t) => t.pass());

let s: InboundSetup;
test.before(async () => {
  if (missing) return;
  s = await inboundSetup({ sip: { ringMs: 100 } });
});
test.after.always(() => s?.close());

const PCMU = { payloadTypes: '0', rtpmaps: '      a=rtpmap:0 PCMU/8000', extraHeaders: '' };
const isEvent = (type: string) => (f: Frame) => f.type === 'event' && (f.event as { type: string }).type === type;

async function connect(key: string): Promise<WsClient> {
  const ws = await WsClient.connect(s.app.http.port, { 'x-api-key': key });
  await ws.waitFor((f) => f.type === 'ready');
  return ws;
}

/** A stand-in runtime that records what it is asked, and refuses what `refuse` names. */
function recorder(refuse: Partial<Record<keyof CallActions, string>> = {}) {
  const asked: unknown[][] = [];
  const take =
    (name: keyof CallActions) =>
    (...args: unknown[]) => {
      const reason = refuse[name];
      if (reason) throw new CallActionRefused(reason);
      asked.push([name, ...args]);
    };
  const actions: CallActions = { say: take('say'), sendDtmf: take('sendDtmf'), setMuted: take('setMuted'), transfer: take('transfer') };
  return { asked, actions };
}

/** Every REST action with a valid body. */
const restActions: [string, unknown][] = [
  ['say', { text: 'Hello there' }],
  ['dtmf', { digits: '12#' }],
  ['mute', undefined],
  ['unmute', undefined],
  ['transfer', { target: '+15551234567' }],
];
/** Every WebSocket command with valid arguments. */
const wsCommands: Record<string, unknown>[] = [
  { type: 'say', text: 'Hi' },
  { type: 'dtmf', digits: '9' },
  { type: 'mute', muted: true },
  { type: 'transfer', target: 'sip:desk@pbx.example.com' },
];

sippTest('actions on a live call: 409 without a runtime; REST and WebSocket reach the runtime with their arguments; refusals 409; 422; 404; 409 once ended', async (t) => {
  const api = client(s.app, s.tenant.headers);
  const ws = await connect(s.tenant.apiKey);
  await ws.request({ type: 'subscribe', topics: ['tenant'] });
  const sipp = runSipp({
    transport: 'u1',
    target: s.sipTarget,
    scenario: scenario('inbound-callee-bye.xml', { ...PCMU, why: 'call actions', headerRegexp: 'SIP/2.0 200', byeTimeoutMs: 60_000 }),
    args: [],
  });
  const callId = ((await ws.waitFor(isEvent('call.answered'), 20_000)).event as { callId: string }).callId;
  const call = s.app.engine.calls.calls.get(callId);
  if (!call) return t.fail('the answered call is not live in call control');
  const accepted = { callId, accepted: true };

  // No agent runtime drives the call (the echo agent): every action is a conflict.
  t.is(call.actions, null);
  for (const [name, body] of restActions) {
    const r = await api.post(`/api/v1/calls/${callId}/${name}`, body);
    t.deepEqual([r.status, r.body], [409, envelope('conflict', `Call has no agent runtime to carry out ${name === 'unmute' ? 'mute' : name}`)], name);
  }
  for (const [i, c] of wsCommands.entries()) {
    t.deepEqual(await ws.request({ ...c, id: i, callId }), { type: 'error', id: i, error: envelope('conflict', `Call has no agent runtime to carry out ${String(c.type)}`).error });
  }

  // A runtime attached: each surface reaches it, in order, with the arguments given.
  const rec = recorder();
  call.actions = rec.actions;
  for (const [name, body] of restActions) {
    const r = await api.post(`/api/v1/calls/${callId}/${name}`, body);
    t.deepEqual([r.status, r.body], [202, accepted], name);
  }
  t.deepEqual((await api.post(`/api/v1/calls/${callId}/say`, { text: 'Now', interrupt: true })).body, accepted);
  t.deepEqual((await api.post(`/api/v1/calls/${callId}/transfer`, { target: 'sips:+4930123@carrier.example.net;user=phone' })).status, 202);
  for (const [i, c] of wsCommands.entries()) {
    t.deepEqual(await ws.request({ ...c, id: `w${i}`, callId }), { type: 'reply', id: `w${i}`, result: accepted });
  }
  t.deepEqual(await ws.request({ type: 'mute', id: 'um', callId, muted: false }), { type: 'reply', id: 'um', result: accepted });
  t.deepEqual(await ws.request({ type: 'say', id: 'si', callId, text: 'Sorry', interrupt: true }), { type: 'reply', id: 'si', result: accepted });
  t.deepEqual(rec.asked, [
    ['say', 'Hello there', { interrupt: false }],
    ['sendDtmf', '12#'],
    ['setMuted', true],
    ['setMuted', false],
    ['transfer', '+15551234567'],
    ['say', 'Now', { interrupt: true }],
    ['transfer', 'sips:+4930123@carrier.example.net;user=phone'],
    ['say', 'Hi', { interrupt: false }],
    ['sendDtmf', '9'],
    ['setMuted', true],
    ['transfer', 'sip:desk@pbx.example.com'],
    ['setMuted', false],
    ['say', 'Sorry', { interrupt: true }],
  ]);

  // Refused by the runtime: 409 with its reason, on both surfaces.
  call.actions = recorder({ transfer: 'A transfer is already under way', say: 'The agent is muted' }).actions;
  const refused = await api.post(`/api/v1/calls/${callId}/transfer`, { target: '+15557654321' });
  t.deepEqual([refused.status, refused.body], [409, envelope('conflict', 'A transfer is already under way')]);
  t.deepEqual(await ws.request({ type: 'say', id: 'r', callId, text: 'x' }), { type: 'error', id: 'r', error: envelope('conflict', 'The agent is muted').error });

  // A runtime that throws anything else (a bug): 500 internal_error on both surfaces, and the engine goes on.
  call.actions = { ...recorder().actions, sendDtmf: () => { throw new Error('runtime bug'); } };
  const broken = await api.post(`/api/v1/calls/${callId}/dtmf`, { digits: '1' });
  t.deepEqual([broken.status, broken.body], [500, envelope('internal_error', 'Internal server error')]);
  t.like(await ws.request({ type: 'dtmf', id: 'b', callId, digits: '1' }), { type: 'error', id: 'b', error: { code: 'internal_error' } });
  t.is((await api.post(`/api/v1/calls/${callId}/say`, { text: 'still here' })).status, 202);

  // Bad arguments: 422 naming the field, and nothing reaches the runtime.
  const quiet = recorder();
  call.actions = quiet.actions;
  const invalid: [string, unknown, string, string][] = [
    ['say', { text: '' }, 'text', 'Too small: expected string to have >=1 characters'],
    ['say', { text: 'x'.repeat(5001) }, 'text', 'Too big: expected string to have <=5000 characters'],
    ['say', { text: 'hi', interrupt: 'yes' }, 'interrupt', 'Invalid input: expected boolean, received string'],
    ['dtmf', { digits: '12x' }, 'digits', 'digits 0-9, *, #, A-D'],
    ['dtmf', { digits: '1'.repeat(33) }, 'digits', 'digits 0-9, *, #, A-D'],
    ['transfer', { target: 'desk' }, 'target', 'Must be an E.164 number (+15551234567) or a sip: URI (sip:desk@pbx.example.com)'],
    ['transfer', { target: '+0123' }, 'target', 'Must be an E.164 number (+15551234567) or a sip: URI (sip:desk@pbx.example.com)'],
    ['transfer', { target: 'tel:+15551234567' }, 'target', 'Must be an E.164 number (+15551234567) or a sip: URI (sip:desk@pbx.example.com)'],
    ['transfer', { target: '+15551234567', extra: 1 }, 'extra', 'Unknown field'],
  ];
  for (const [name, body, field, message] of invalid) {
    const r = await api.post(`/api/v1/calls/${callId}/${name}`, body);
    t.deepEqual([r.status, r.body], [422, envelope('validation_error', 'Invalid request body', [{ field, message }])], `${name} ${JSON.stringify(body).slice(0, 60)}`);
  }
  t.like(await ws.request({ type: 'dtmf', id: 'v', callId, digits: '' }), { type: 'error', id: 'v', error: { code: 'validation_error', details: [{ field: 'frame.digits' }] } });
  t.deepEqual(quiet.asked, []);

  // Another tenant, an unknown call, a viewer, a read-only key.
  const other = await seedTenant(s.app);
  const stranger = client(s.app, other.headers);
  for (const [name, body] of restActions) {
    const r = await stranger.post(`/api/v1/calls/${callId}/${name}`, body);
    t.deepEqual([r.status, r.body], [404, envelope('not_found', 'Call not found')], `stranger ${name}`);
  }
  const strangerWs = await connect(other.apiKey);
  t.deepEqual(await strangerWs.request({ type: 'say', id: 'x', callId, text: 'hi' }), { type: 'error', id: 'x', error: envelope('not_found', 'Call not found').error });
  const unknown = await api.post('/api/v1/calls/00000000-0000-4000-8000-000000000000/mute', undefined);
  t.deepEqual([unknown.status, unknown.body], [404, envelope('not_found', 'Call not found')]);
  const viewer: Client = client(s.app, (await userWithRole(s.app, s.tenant.tenantId, 'viewer')).headers);
  const v = await viewer.post(`/api/v1/calls/${callId}/mute`, undefined);
  t.deepEqual([v.status, v.body], [403, envelope('authorization_error', 'Role viewer may not do this (needs owner or admin or member)')]);
  const readOnly = client(s.app, { 'x-api-key': mintKey(s.app, s.tenant.tenantId, { scopes: ['calls:read'] }) });
  const k = await readOnly.post(`/api/v1/calls/${callId}/dtmf`, { digits: '1' });
  t.deepEqual([k.status, k.body], [403, envelope('authorization_error', 'API key lacks scope calls:write')]);
  t.deepEqual(quiet.asked, []);

  // The call ends (WebSocket hangup: SIPp gets its BYE); then every action is "not live".
  t.deepEqual(await ws.request({ type: 'hangup', id: 'h', callId }), { type: 'reply', id: 'h', result: accepted });
  const r = await sipp;
  t.is(r.code, 0, r.output + r.errors);
  await ws.waitFor(isEvent('call.ended'), 10_000);
  for (const [name, body] of restActions) {
    const after = await api.post(`/api/v1/calls/${callId}/${name}`, body);
    t.deepEqual([after.status, after.body], [409, envelope('conflict', 'Call is not live (completed)')], `after ${name}`);
  }
  t.deepEqual(await ws.request({ type: 'dtmf', id: 'e', callId, digits: '1' }), { type: 'error', id: 'e', error: envelope('conflict', 'Call is not live (completed)').error });
  t.deepEqual(quiet.asked, []);
  await Promise.all([ws.close(), strangerWs.close()]);
});
