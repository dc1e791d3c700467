/**
 * Real calls from SIPp (Debian sip-tester) through the whole engine, watched and controlled in
 * real time: WebSocket and SSE subscribers see call.started … call.ended in order with their log
 * ids, a resumed subscription replays the rest, and a `hangup` command ends a live call with a
 * BYE that SIPp receives. Another tenant cannot touch the call.
 */
import test from 'ava';
import { request } from '../../helpers/http.js';
import { inboundSetup, scenario, type InboundSetup } from '../../helpers/inbound.js';
import { runSipp, sippMissing, type SippRun } from '../../helpers/sipp.js';
import { seedTenant } from '../../helpers/tenant.js';
import { SseStream } from './sse-client.js';
import { WsClient, type Frame } from './ws-client.js';

const missing = sippMissing();
const sippTest = missing ? test.skip : test.serial;
if (missing) test('real-time tests with SIPp calls are skipped: ' + missing, (t) => t.pass());

let s: InboundSetup;
test.before(async () => {
  if (missing) return;
  s = await inboundSetup({ sip: { ringMs: 200 } });
});
test.after.always(() => s?.close());

const sipp = async (scn: SippRun['scenario']) =>
  runSipp({ transport: 'u1', target: s.sipTarget, scenario: scn, args: [] });

async function connect(key: string): Promise<WsClient> {
  const ws = await WsClient.connect(s.app.http.port, { 'x-api-key': key });
  await ws.waitFor((f) => f.type === 'ready');
  return ws;
}

const isEvent = (type: string) => (f: Frame) => f.type === 'event' && (f.event as { type: string }).type === type;

const PCMU = { payloadTypes: '0', rtpmaps: '      a=rtpmap:0 PCMU/8000', extraHeaders: '' };

sippTest('a real call: WebSocket and SSE see call.started, ringing, answered, ended in order with log ids; resume replays the rest', async (t) => {
  const ws = await connect(s.tenant.apiKey);
  await ws.request({ type: 'subscribe', topics: ['tenant'] });
  const sse = await SseStream.open(`${s.base}/api/v1/events`, s.tenant.headers);

  const r = await sipp(scenario('inbound-pcap.xml', { holdMs: 1500 }));
  t.is(r.code, 0, r.output + r.errors);
  await ws.waitFor(isEvent('call.ended'), 15_000);
  await sse.until(() => sse.messages.some((m) => m.event === 'call.ended'), 15_000);

  const events = ws.events();
  t.deepEqual(events.map((e) => e.type), ['call.started', 'call.ringing', 'call.answered', 'call.ended']);
  const ids = events.map((e) => e.id);
  t.deepEqual([...ids].sort((a, b) => a - b), ids, 'ids increase');
  t.is(new Set(ids).size, 4);
  const callId = events[0]!.callId!;
  t.true(events.every((e) => e.callId === callId && e.data.callId === callId && e.data.agentId === s.agentId));
  t.like(events[0]!.data, { direction: 'inbound', from: { number: '+15550100' } });
  t.like(events[3]!.data, { endReason: 'caller_hangup', hangupBy: 'caller' });
  // SSE: the same events, ids and bodies.
  t.deepEqual(sse.ids(), ids);
  t.deepEqual(sse.events(), events);
  t.deepEqual(sse.messages.map((m) => m.event), events.map((e) => e.type));

  // Resume after call.started: exactly the three others, by call topic (WebSocket) and by filter (SSE).
  const again = await connect(s.tenant.apiKey);
  t.deepEqual(await again.request({ type: 'subscribe', id: 'r', topics: [`call:${callId}`], lastEventId: ids[0]! }), {
    type: 'reply',
    id: 'r',
    result: { topics: [`call:${callId}`], replayed: 3 },
  });
  t.deepEqual(again.events(), events.slice(1));
  const resumed = await SseStream.open(`${s.base}/api/v1/events?callId=${callId}`, { ...s.tenant.headers, 'last-event-id': String(ids[0]) });
  await resumed.count(3);
  t.deepEqual(resumed.events(), events.slice(1));
  // The timeline the REST API shows is the same log.
  const timeline = await request<{ items: { id: number }[] }>(s.base, 'GET', `/api/v1/calls/${callId}/events`, { headers: s.tenant.headers });
  t.deepEqual(timeline.body.items.map((e) => e.id), ids);
  await Promise.all([ws.close(), again.close(), sse.close(), resumed.close()]);
});

sippTest('hangup over the WebSocket ends a live call: SIPp receives BYE; another tenant gets not_found', async (t) => {
  const ws = await connect(s.tenant.apiKey);
  await ws.request({ type: 'subscribe', topics: ['tenant'] });
  const call = sipp(scenario('inbound-callee-bye.xml', { ...PCMU, why: 'a hangup command', headerRegexp: 'SIP/2.0 200', byeTimeoutMs: 30_000 }));
  const answered = (await ws.waitFor(isEvent('call.answered'), 20_000)).event as { callId: string };
  const callId = answered.callId;

  const other = await seedTenant(s.app);
  const stranger = await connect(other.apiKey);
  t.deepEqual(await stranger.request({ type: 'hangup', id: 'x', callId }), { type: 'error', id: 'x', error: { code: 'not_found', message: 'Call not found', details: [] } });
  t.deepEqual(await ws.request({ type: 'say', id: 's', callId, text: 'Hello' }), { type: 'error', id: 's', error: { code: 'conflict', message: 'Call has no agent runtime to carry out say', details: [] } });
  t.false(ws.frames.some(isEvent('call.ended')), 'the call is still up');

  t.deepEqual(await ws.request({ type: 'hangup', id: 'h', callId }), { type: 'reply', id: 'h', result: { callId, accepted: true } });
  const r = await call;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.filter((l) => !/ 1\d\d /.test(l)), ['-> INVITE', '<- 200 INVITE', '-> ACK', '<- BYE', '-> 200 BYE']);
  const ended = (await ws.waitFor(isEvent('call.ended'), 10_000)).event as { callId: string; data: Record<string, unknown> };
  t.is(ended.callId, callId);
  t.like(ended.data, { endReason: 'api_hangup', hangupBy: 'system' });
  t.like(await ws.request({ type: 'hangup', id: 'again', callId }), { type: 'error', error: { code: 'conflict', message: 'Call is not live (completed)' } });
  const rec = await request<{ endReason: string; hangupBy: string; status: string }>(s.base, 'GET', `/api/v1/calls/${callId}`, { headers: s.tenant.headers });
  t.like(rec.body, { status: 'completed', endReason: 'api_hangup', hangupBy: 'system' });
  await Promise.all([ws.close(), stranger.close()]);
});
