/**
 * A caller into an agent's workflow, end to end on loopback: SIPp places the call, the test's
 * phone carries its media (and presses "2" as RFC 4733), a local HTTP server is the tool's
 * webhook and checks its signature, and the engine speaks with its offline voice.
 */
import anyTest, { type TestFn } from 'ava';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, scenario, sippCall, type InboundSetup } from '../../helpers/inbound.js';
import { sippMissing } from '../../helpers/sipp.js';
import { Phone } from '../../helpers/phone.js';
import { webhook, type Hook } from '../../helpers/webhook-server.js';
import '../../helpers/allow-loopback.js';

const test = anyTest as TestFn<{ s: InboundSetup; hook: Hook }>;
const missing = sippMissing();
/** The caller is SIPp: without it the file has nothing to call with. */
const sippTest = missing ? test.skip : test.serial;
if (missing) test(`agent call tests skipped: ${missing}`, (t) => t.pass());

test.before(async (t) => {
  if (missing) return;
  t.context.s = await inboundSetup();
  t.context.hook = await webhook();
});
test.after.always(async (t) => {
  await t.context.s?.close();
  await t.context.hook?.close();
});

interface Ev {
  type: string;
  data: Record<string, unknown>;
}

async function events(s: InboundSetup, callId: string): Promise<Ev[]> {
  const r = await request<{ items: Ev[] }>(s.base, 'GET', `/api/v1/calls/${callId}/events?limit=100`, { headers: s.tenant.headers });
  return r.body.items;
}

sippTest('a caller hears the greeting, presses 2, the tool runs with a valid signature, the result is spoken, and the agent hangs up', async (t) => {
  const { s, hook } = t.context;
  const h = s.tenant.headers;
  const tool = await request<{ id: string }>(s.base, 'POST', '/api/v1/tools', {
    headers: h,
    body: {
      name: 'balance',
      description: 'Looks up the balance',
      parameters: { type: 'object', properties: { account: { type: 'string' }, tier: { type: 'string' } }, required: ['account'] },
      action: { type: 'webhook', url: hook.url, secret: hook.secret, timeoutMs: 3000 },
    },
  });
  t.is(tool.status, 201, JSON.stringify(tool.body));
  const graph = {
    nodes: [
      { id: 'start', kind: 'start' },
      { id: 'greet', kind: 'say', text: 'Hello, thank you for calling.' },
      { id: 'menu', kind: 'gather', prompt: 'Press two for your balance.', dtmf: { maxDigits: 1 }, timeoutMs: 8000, variable: 'choice' },
      { id: 'check', kind: 'branch', condition: 'choice == 2' },
      { id: 'lookup', kind: 'tool', toolId: tool.body.id, arguments: { account: '{{caller}}', tier: '{{sip.x_customer_tier}}' }, resultVariable: 'acct' },
      { id: 'tell', kind: 'say', text: 'Your balance is {{acct.balance}} dollars.' },
      { id: 'bye', kind: 'hangup', reason: 'done' },
      { id: 'other', kind: 'say', text: 'Goodbye.' },
      { id: 'bye2', kind: 'hangup' },
    ],
    edges: [
      { from: 'start', to: 'greet' },
      { from: 'greet', to: 'menu' },
      { from: 'menu', to: 'check' },
      { from: 'check', to: 'lookup', when: true },
      { from: 'check', to: 'other', when: false },
      { from: 'lookup', to: 'tell' },
      { from: 'tell', to: 'bye' },
      { from: 'other', to: 'bye2' },
    ],
  };
  const wf = await request<{ id: string; version: number }>(s.base, 'POST', '/api/v1/workflows', { headers: h, body: { name: 'balance menu', graph } });
  t.is(wf.status, 201, JSON.stringify(wf.body));
  const patched = await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: h, body: { config: { workflowId: wf.body.id } } });
  t.is(patched.status, 200, JSON.stringify(patched.body));

  const phone = await Phone.open();
  t.teardown(() => phone.close());
  const sipp = sippCall(s, scenario('agent-call.xml', { rtpPort: phone.port, byeTimeoutMs: 30_000 }));
  // The engine's media port, from the live call's leg; then the phone streams to it.
  const live = await waitFor(() => [...s.app.engine.calls.calls.values()].find((c) => c.parts.leg && c.state === 'answered'), 10_000);
  const legPort = Number(/m=audio (\d+)/.exec(live.parts.leg!.answerSdp)![1]);
  const started = performance.now();
  phone.start(legPort);
  // Press 2 once the menu's prompt has been said.
  await waitFor(async () => (await events(s, live.id)).some((e) => e.type === 'call.agent_said' && e.data.text === 'Press two for your balance.'), 20_000);
  const promptHeardMs = phone.loudMs(started);
  phone.press('2');
  const r = await sipp;
  t.is(r.code, 0, r.errors);

  const call = await waitFor(async () => {
    const c = await request<{ endReason: string | null; hangupBy: string; transcript: { role: string; text: string }[]; metrics: { workflowPath?: string[] }; workflowId: string; workflowVersion: number }>(s.base, 'GET', `/api/v1/calls/${live.id}`, { headers: h });
    return c.body.endReason ? c.body : undefined;
  }, 10_000);
  t.is(call.endReason, 'agent_hangup');
  t.is(call.hangupBy, 'agent');
  t.is(call.workflowId, wf.body.id);
  t.is(call.workflowVersion, wf.body.version);
  t.deepEqual(call.metrics.workflowPath, ['start', 'greet', 'menu', 'check', 'lookup', 'tell', 'bye']);
  t.deepEqual(
    call.transcript.map((e) => `${e.role}: ${e.text}`),
    ['agent: Hello, thank you for calling.', 'agent: Press two for your balance.', 'caller: (pressed 2)', 'tool: balance: ok', 'agent: Your balance is 42 dollars.', 'system: hangup: done'],
  );
  // The webhook got the caller and the INVITE's X- header, signed.
  t.is(hook.seen.length, 1);
  t.true(hook.seen[0]!.signatureOk);
  t.deepEqual((hook.seen[0]!.body as { arguments: unknown }).arguments, { account: '+15550100', tier: 'gold' });
  const types = (await events(s, live.id)).map((e) => e.type);
  for (const type of ['call.workflow_step', 'call.agent_said', 'call.dtmf', 'call.tool_called', 'call.tool_result', 'call.ended']) t.true(types.includes(type), type);
  const dtmf = (await events(s, live.id)).find((e) => e.type === 'call.dtmf');
  t.is(dtmf?.data.digit, '2');
  // The phone heard speech: the greeting and prompt (about 3 s of flite's voice) before the key,
  // and the balance after it.
  const heardMs = phone.loudMs(started);
  t.log(`speech heard: ${promptHeardMs} ms before the key, ${heardMs} ms in all`);
  t.true(promptHeardMs >= 1500 && promptHeardMs <= 6000, `${promptHeardMs} ms`);
  t.true(heardMs - promptHeardMs >= 1000, `${heardMs - promptHeardMs} ms after the key`);
});
