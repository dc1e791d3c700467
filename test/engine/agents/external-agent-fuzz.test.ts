/**
 * Whatever an external agent sends, the engine stays up and the call goes on: a fast-check
 * property over batches of arbitrary text and binary messages (random strings, JSON values,
 * near-miss commands, non-UTF-8 text, oversized text, audio of any length) on one live call.
 * After each batch the agent clears and sends a probe mark: the engine must answer it on the
 * same connection, with the call still answered. Commands that would legitimately end or hand
 * over the call (a valid hangup or transfer) are left out.
 */
import anyTest, { type TestFn } from 'ava';
import fc from 'fast-check';
import { agentMessageSchema, externalLimits } from '../../../engine/agents/external/protocol.js';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, scenario, sippCall, type InboundSetup } from '../../helpers/inbound.js';
import { Phone } from '../../helpers/phone.js';
import { WsAgentServer } from '../../helpers/ws-agent.js';
import '../../helpers/allow-loopback.js';

const test = anyTest as TestFn<{ s: InboundSetup; agent: WsAgentServer }>;

test.before(async (t) => {
  t.context.s = await inboundSetup();
  t.context.agent = await WsAgentServer.open();
});
test.after.always(async (t) => {
  await t.context.agent?.close();
  await t.context.s?.close();
});

type Frame = { kind: 'text'; data: string } | { kind: 'raw-text'; data: Uint8Array } | { kind: 'binary'; data: Uint8Array };

const commandTypes = ['mark', 'clear', 'dtmf', 'hangup', 'transfer', 'start', 'stop', 'media', 'error', 'say', '', 'MARK'];

/** JSON objects shaped like commands, with arbitrary fields. */
const nearMiss = fc
  .record({ type: fc.oneof(fc.constantFrom(...commandTypes), fc.string({ maxLength: 8 }), fc.integer(), fc.constant(null)) }, { requiredKeys: [] })
  .chain((base) =>
    fc.dictionary(fc.constantFrom('name', 'digits', 'target', 'reason', '__proto__', 'constructor', 'extra'), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 }).map((extra) => ({ ...extra, ...base })),
  );

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.string({ maxLength: 200 }).map((data) => ({ kind: 'text' as const, data })),
  fc.jsonValue({ maxDepth: 4 }).map((v) => ({ kind: 'text' as const, data: JSON.stringify(v) ?? 'null' })),
  nearMiss.map((v) => ({ kind: 'text' as const, data: JSON.stringify(v) })),
  fc.constant({ kind: 'text' as const, data: `{"type":"mark","name":"${'x'.repeat(externalLimits.maxTextBytes)}"}` }),
  fc.constant({ kind: 'text' as const, data: '['.repeat(10_000) }),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((data) => ({ kind: 'raw-text' as const, data: Uint8Array.from([0xff, 0xfe, ...data]) })),
  fc.uint8Array({ maxLength: 1600 }).map((data) => ({ kind: 'binary' as const, data })),
);

/** A frame that is a valid hangup or transfer would end the call on purpose: not this property's business. */
function endsTheCall(f: Frame): boolean {
  if (f.kind !== 'text') return false;
  try {
    const r = agentMessageSchema.safeParse(JSON.parse(f.data));
    return r.success && (r.data.type === 'hangup' || r.data.type === 'transfer');
  } catch {
    return false;
  }
}

const RUNS = 150;

test.serial(`arbitrary text and binary messages from the agent never stop the engine; the call goes on (${RUNS} runs of 1-8 messages)`, async (t) => {
  const { s, agent } = t.context;
  const res = await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: s.tenant.headers, body: { config: { kind: 'websocket', websocket: { url: agent.url } } } });
  t.is(res.status, 200);
  const phone = await Phone.open();
  t.teardown(() => phone.close());
  const sipp = sippCall(s, scenario('agent-call.xml', { rtpPort: phone.port, byeTimeoutMs: 120_000 }));
  const live = await waitFor(() => [...s.app.engine.calls.calls.values()].find((c) => c.parts.leg && c.state === 'answered'), 10_000);
  phone.start(Number(/m=audio (\d+)/.exec(live.parts.leg!.answerSdp)![1]));
  const conn = await agent.connection(0);
  await conn.next('start');

  let run = 0;
  let sent = 0;
  const began = performance.now();
  await fc.assert(
    fc.asyncProperty(fc.array(frameArb, { minLength: 1, maxLength: 8 }).filter((fs) => !fs.some(endsTheCall)), async (frames) => {
      run++;
      for (const f of frames) {
        if (f.kind === 'binary') conn.ws.send(f.data, { binary: true });
        else if (f.kind === 'raw-text') conn.ws.send(f.data, { binary: false });
        else conn.ws.send(f.data);
      }
      sent += frames.length;
      conn.sendJson({ type: 'clear' });
      conn.sendJson({ type: 'mark', name: `probe-${run}` });
      await conn.next('mark', (m) => m.name === `probe-${run}`, 5000);
      return conn.open && live.state === 'answered' && agent.connections.length === 1;
    }),
    { numRuns: RUNS },
  );
  const errors = conn.messages.filter((m) => m.msg.type === 'error');
  const codes = new Map<string, number>();
  for (const e of errors) codes.set(String(e.msg.code), (codes.get(String(e.msg.code)) ?? 0) + 1);
  const ms = performance.now() - began;
  t.log(`${run} runs, ${sent} arbitrary messages in ${ms.toFixed(0)} ms (${((run / ms) * 1000).toFixed(0)} runs/s); errors answered: ${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}`);
  t.true(errors.length > 0);
  t.is(agent.connections.length, 1, 'the socket never dropped');
  t.is(live.state, 'answered');
  conn.sendJson({ type: 'hangup' });
  const r = await sipp;
  t.is(r.code, 0, r.errors);
});
