/**
 * The events the API documents are the events it sends. One test per type of
 * `engine/events/schemas.ts` (the `RealtimeEvent` components of `/openapi.json`):
 *
 * - an emitted type is triggered for real (a SIPp call through the engine, or a REST request),
 *   and seen live on SSE and WebSocket, then again on replay (`Last-Event-ID` / `lastEventId`),
 *   the same event each time, matching its published schema;
 * - a reserved type is marked so in the document, refused by the SSE and WebSocket filters with
 *   a message saying it is reserved, and appended nowhere in the code.
 *
 * A last test reads the sources: every `append('<type>'` in `api/`, `engine/` and `media/` names
 * an emitted type, and every emitted type has one, so the list cannot drift from the code.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { eventStatus, eventTypes, realtimeEventSchema, type EventType } from '../../engine/events/schemas.js';
import { assertError } from '../helpers/envelope.js';
import { request, waitFor } from '../helpers/http.js';
import { fakeDeepgram } from '../helpers/fake-deepgram.js';
import { Phone } from '../helpers/phone.js';
import { speech8k } from '../helpers/speech.js';
import { inboundSetup, scenario, type InboundSetup } from '../helpers/inbound.js';
import { mintKey } from '../helpers/tenant.js';
import { runSipp, sippMissing } from '../helpers/sipp.js';
import { callerByeAfterNotifies, ENGINE_BYE, liveCall, transferDeps } from '../helpers/transfer.js';
import { transferCall } from '../../engine/calls/transfer.js';
import { SseStream } from './realtime/sse-client.js';
import { WsClient, type Frame } from './realtime/ws-client.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const missing = sippMissing();

interface Seen {
  id: number;
  type: string;
  callId: string | null;
  data: Record<string, unknown>;
}

let s: InboundSetup;
let ws: WsClient;
let sse: SseStream;
let doc: { components: { schemas: Record<string, { description?: string; 'x-emitted'?: boolean }> } };

test.before(async () => {
  s = await inboundSetup({ sip: { ringMs: 200 } });
  ws = await WsClient.connect(s.app.http.port, s.tenant.headers);
  await ws.waitFor((f) => f.type === 'ready');
  await ws.request({ type: 'subscribe', topics: ['tenant'] });
  sse = await SseStream.open(`${s.base}/api/v1/events`, s.tenant.headers);
  doc = (await request<typeof doc>(s.base, 'GET', '/openapi.json')).body;
});
test.after.always(async () => {
  await Promise.all([ws?.close(), sse?.close()]);
  await s?.close();
});

const h = () => s.tenant.headers;

/** Where the live streams stood when a trigger started: its events come after. */
interface Marks {
  ws: number;
  sse: number;
}
const marks = (): Marks => ({ ws: ws.frames.length, sse: sse.messages.length });

/** One real call (SIPp, 200 ms of ringing, 1.5 s of RTP, caller's BYE), made once for all call types. */
let call: Promise<Marks> | undefined;
const realCall = () =>
  (call ??= (async () => {
    const from = marks();
    const r = await runSipp({
      transport: 'u1',
      target: s.sipTarget,
      scenario: scenario('inbound-pcap.xml', { holdMs: 1500 }),
      args: [],
    });
    if (r.code !== 0) throw new Error(`SIPp failed: ${r.output}${r.errors}`);
    return from;
  })());

/**
 * One real blind transfer: a SIPp caller accepts the REFER and reports the target's `final`
 * status in its NOTIFYs; `transferCall` runs on the live call. Made once per outcome.
 */
const transfers = new Map<string, Promise<Marks>>();
const transferRun = (final: '200 OK' | '486 Busy Here') => () => {
  let run = transfers.get(final);
  if (!run) {
    run = (async () => {
      const from = marks();
      const tail = final === '200 OK' ? ENGINE_BYE : callerByeAfterNotifies(200);
      const caller = runSipp({ transport: 'u1', target: s.sipTarget, scenario: scenario('transfer-refer-accept.xml', { referTo: '.*', referredBy: '.*', final, finalState: 'terminated;reason=noresource', tail }), args: [] });
      const call = await liveCall(s.app);
      const outcome = await transferCall(transferDeps(s.app), call, 'sip:target@example.com');
      const r = await caller;
      if (r.code !== 0) throw new Error(`SIPp failed (${JSON.stringify(outcome)}): ${r.output}${r.errors}`);
      return from;
    })();
    transfers.set(final, run);
  }
  return run;
};

/**
 * One call into the agent with a workflow, made once for all agent types: the agent speaks
 * (offline voice); the phone answers with real speech, which voice activity hears and a local
 * Deepgram transcribes; the phone presses 1; a tool whose webhook refuses connections fails (a
 * `call.error`); the agent hangs up. The agent goes back to echoing afterwards.
 */
let agentCallDone: Promise<Marks> | undefined;
const agentCall = () =>
  (agentCallDone ??= (async () => {
    const dg = await fakeDeepgram({ transcripts: ['hello there'] });
    const provider = await request<{ id: string }>(s.base, 'POST', '/api/v1/providers', { headers: h(), body: { name: 'dg', kind: 'deepgram', baseUrl: dg.url, apiKey: 'dg-test-key' } });
    const tool = await request<{ id: string }>(s.base, 'POST', '/api/v1/tools', {
      headers: h(),
      body: { name: 'unreachable', description: 'Fails', parameters: { type: 'object', properties: {} }, action: { type: 'webhook', url: 'http://127.0.0.1:1/none', timeoutMs: 1000 } },
    });
    const graph = {
      nodes: [
        { id: 'start', kind: 'start' },
        { id: 'hello', kind: 'say', text: 'Hello.' },
        { id: 'ask', kind: 'gather', speech: { hints: ['hello', 'there'] }, timeoutMs: 10000, variable: 'said' },
        { id: 'menu', kind: 'gather', dtmf: { maxDigits: 1 }, timeoutMs: 10000, variable: 'choice' },
        { id: 'call', kind: 'tool', toolId: tool.body.id },
        { id: 'bye', kind: 'hangup' },
      ],
      edges: [
        { from: 'start', to: 'hello' },
        { from: 'hello', to: 'ask' },
        { from: 'ask', to: 'menu' },
        { from: 'menu', to: 'call' },
        { from: 'call', to: 'bye' },
      ],
    };
    const wf = await request<{ id: string }>(s.base, 'POST', '/api/v1/workflows', { headers: h(), body: { name: 'events', graph } });
    const set = await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: h(), body: { config: { workflowId: wf.body.id, transcriber: { provider: 'dg' } } } });
    if (provider.status !== 201 || set.status !== 200) throw new Error(`set-up failed: ${JSON.stringify(provider.body)} ${JSON.stringify(set.body)}`);
    const from = marks();
    const phone = await Phone.open();
    try {
      const sipp = runSipp({ transport: 'u1', target: s.sipTarget, scenario: scenario('agent-call.xml', { rtpPort: phone.port, byeTimeoutMs: 30_000 }), args: [] });
      const live = await waitFor(() => [...s.app.engine.calls.calls.values()].find((c) => c.parts.leg && c.state === 'answered'), 10_000);
      phone.start(Number(/m=audio (\d+)/.exec(live.parts.leg!.answerSdp)![1]));
      await ws.waitFor(isEvent('call.agent_said'), 15_000, from.ws);
      phone.say(speech8k('Hello there.'));
      await ws.waitFor((f) => isEvent('call.workflow_step')(f) && (f.event as Seen).data.nodeId === 'menu', 15_000, from.ws);
      phone.press('1');
      const r = await sipp;
      if (r.code !== 0) throw new Error(`SIPp failed: ${r.output}${r.errors}`);
      // The gathers' hints reached the transcriber.
      const keywords = dg.connections[0]?.query.getAll('keywords') ?? [];
      if (!['hello', 'there'].every((k) => keywords.includes(k))) throw new Error(`keywords sent: ${JSON.stringify(keywords)}`);
    } finally {
      phone.close();
      await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: h(), body: { config: { workflowId: null, transcriber: null } } });
      await dg.close();
    }
    return from;
  })());

/** What makes each emitted type happen, through the real engine. */
const triggers: Partial<Record<EventType, () => Promise<Marks>>> = {
  'call.started': realCall,
  'call.ringing': realCall,
  'call.answered': realCall,
  'call.ended': realCall,
  'call.transfer_started': transferRun('200 OK'),
  'call.transfer_completed': transferRun('200 OK'),
  'call.transfer_failed': transferRun('486 Busy Here'),
  'call.workflow_step': agentCall,
  'call.agent_said': agentCall,
  'call.dtmf': agentCall,
  'call.tool_called': agentCall,
  'call.tool_result': agentCall,
  'call.error': agentCall,
  'call.speech_started': agentCall,
  'call.transcript': agentCall,
  'agent.updated': async () => {
    const from = marks();
    const res = await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: h(), body: { name: 'Renamed by the test' } });
    if (res.status !== 200) throw new Error(`PATCH answered ${res.status}: ${JSON.stringify(res.body)}`);
    return from;
  },
};

const componentOf = (type: string) => `${type.split(/[._]/).map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('')}Event`;
const isEvent = (type: string) => (f: Frame) => f.type === 'event' && (f.event as Seen).type === type;

for (const type of eventTypes) {
  const status: { emitted: string } | { reserved: string } = eventStatus[type];
  if ('emitted' in status) {
    const trigger = triggers[type];
    const needsSipp = trigger === realCall || trigger === agentCall || type.startsWith('call.transfer');
    const run = missing && needsSipp ? test.skip : test.serial;
    if (missing && needsSipp) test(`${type}: skipped, it needs a real call: ${missing}`, (t) => t.pass());
    run(`${type} (emitted ${status.emitted}): seen live on SSE and WebSocket, and again on replay`, async (t) => {
      t.truthy(trigger, `no trigger for ${type} in this test`);
      const { ws: wsFrom, sse: sseFrom } = await trigger!();
      // Live, on both.
      const live = (await ws.waitFor(isEvent(type), 15_000, wsFrom)).event as Seen;
      await sse.until(() => sse.messages.slice(sseFrom).some((m) => m.event === type), 15_000, `${type} on SSE`);
      const onSse = sse.messages.slice(sseFrom).find((m) => m.event === type)!;
      t.is(onSse.id, String(live.id));
      t.deepEqual(JSON.parse(onSse.data), live);
      t.true(realtimeEventSchema.safeParse(live).success, `${type} matches its published schema`);
      t.is(doc.components.schemas[componentOf(type)]?.['x-emitted'], true);
      if (type === 'agent.updated') {
        t.like(live, { callId: null, data: { agentId: s.agentId } });
      } else {
        t.is(live.data.callId, live.callId);
        t.is(live.data.agentId, s.agentId);
      }

      // Replay: the events after id - 1, limited to this type, start with this very event.
      const since = live.id - 1;
      const again = await WsClient.connect(s.app.http.port, h());
      await again.waitFor((f) => f.type === 'ready');
      const reply = await again.request({ type: 'subscribe', topics: ['tenant'], types: [type], lastEventId: since });
      t.is(reply.type, 'reply', JSON.stringify(reply));
      t.deepEqual(again.events()[0], live);
      const replayed = await SseStream.open(`${s.base}/api/v1/events?types=${type}`, { ...h(), 'last-event-id': String(since) });
      await replayed.count(1);
      t.deepEqual(replayed.events()[0], live);
      t.is(replayed.messages[0]!.id, String(live.id));
      // And on the agent's topic, where the document says agent events go.
      const byAgent = await again.request({ type: 'subscribe', topics: [`agent:${s.agentId}`], types: [type], lastEventId: since });
      t.is(byAgent.type, 'reply');
      await Promise.all([again.close(), replayed.close()]);
    });
  } else {
    test(`${type} (reserved: ${status.reserved}): documented as reserved, refused by filters, appended nowhere`, async (t) => {
      const component = doc.components.schemas[componentOf(type)];
      t.is(component?.['x-emitted'], false);
      t.regex(component?.description ?? '', /^Reserved: not sent by this version/);
      const message = `${type} is reserved: not sent by this version (${status.reserved})`;
      assertError(t, await request(s.base, 'GET', `/api/v1/events?types=call.ended,${type}`, { headers: h() }), 'validation_error', 'Invalid query', [
        { field: 'query.types[1]', message },
      ]);
      const reply = await ws.request({ type: 'subscribe', topics: ['tenant'], types: [type] });
      t.like(reply, { type: 'error', error: { code: 'validation_error', details: [{ field: 'frame.types[0]', message }] } });
      t.deepEqual(appendedTypes().get(type) ?? [], [], `${type} is appended in the code: move it to the emitted types`);
    });
  }
}

test.serial('a PATCH that fails (unknown agent, bad reference) announces nothing', async (t) => {
  const before = ws.frames.length;
  const missingAgent = await request(s.base, 'PATCH', '/api/v1/agents/00000000-0000-4000-8000-000000000000', { headers: h(), body: { name: 'x' } });
  t.is(missingAgent.status, 404);
  const badRef = await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, {
    headers: h(),
    body: { name: 'never stored', config: { toolIds: ['00000000-0000-4000-8000-000000000000'] } },
  });
  t.is(badRef.status, 422);
  // A successful PATCH afterwards is the next agent.updated: nothing came before it.
  await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: h(), body: { description: 'marker' } });
  const next = (await ws.waitFor(isEvent('agent.updated'), 10_000, before)).event as Seen;
  t.deepEqual(ws.frames.slice(before).filter(isEvent('agent.updated')).length, 1);
  const agent = await request<{ name: string; description: string }>(s.base, 'GET', `/api/v1/agents/${s.agentId}`, { headers: h() });
  t.not(agent.body.name, 'never stored');
  t.is(agent.body.description, 'marker');
  t.is(next.data.agentId, s.agentId);
});

test.serial("agent.updated stays in its mode: a test key's change reaches test streams, not live ones", async (t) => {
  const testKey = { 'x-api-key': mintKey(s.app, s.tenant.tenantId, { mode: 'test', rateLimit: 1000 }) };
  const agent = await request<{ id: string }>(s.base, 'POST', '/api/v1/agents', { headers: testKey, body: { name: 'Test agent', config: { prompt: { system: 'Test.' } } } });
  t.is(agent.status, 201);
  const testWs = await WsClient.connect(s.app.http.port, testKey);
  await testWs.waitFor((f) => f.type === 'ready');
  await testWs.request({ type: 'subscribe', topics: ['tenant'] });
  const liveFrom = ws.frames.length;
  t.is((await request(s.base, 'PATCH', `/api/v1/agents/${agent.body.id}`, { headers: testKey, body: { status: 'inactive' } })).status, 200);
  const seen = (await testWs.waitFor(isEvent('agent.updated'))).event as Seen & { mode: string };
  t.like(seen, { mode: 'test', data: { agentId: agent.body.id } });
  // A live change made after it is the next thing live clients see: the test one never came.
  await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: h(), body: { description: 'after the test change' } });
  const next = (await ws.waitFor(isEvent('agent.updated'), 10_000, liveFrom)).event as Seen;
  t.is(next.data.agentId, s.agentId);
  t.false(ws.frames.slice(liveFrom).some((f) => f.type === 'event' && (f.event as Seen).data.agentId === agent.body.id));
  await testWs.close();
});

/** `append('<type>'` calls (and the agent session's `#event('<type>'` wrapper of it) in the product's sources, by type (file names as values). */
function appendedTypes(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) {
        for (const m of fs.readFileSync(p, 'utf8').matchAll(/(?:\.append|\.#event)\(\s*'([a-z_]+\.[a-z_]+)'/g)) {
          out.set(m[1]!, [...(out.get(m[1]!) ?? []), path.relative(repoRoot, p)]);
        }
      }
    }
  };
  for (const d of ['api', 'engine', 'media']) walk(path.join(repoRoot, d));
  return out;
}

test('the code appends exactly the emitted types', (t) => {
  const appended = appendedTypes();
  const emitted = eventTypes.filter((type) => 'emitted' in eventStatus[type]);
  t.deepEqual([...appended.keys()].sort(), [...emitted].sort(), JSON.stringify(Object.fromEntries(appended)));
  t.log(`${emitted.length} emitted types, ${eventTypes.length - emitted.length} reserved; appended in ${new Set([...appended.values()].flat()).size} files`);
});
