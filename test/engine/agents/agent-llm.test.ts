/**
 * LLM agents on real calls, on loopback: SIPp places the call, the test's phone carries its
 * media and speaks real (flite) speech, a local Deepgram transcribes it, a local OpenAI-compatible
 * server streams the model's answers (a tool call, then text), and a local webhook is the tool.
 */
import anyTest, { type TestFn } from 'ava';
import { fakeDeepgram, type FakeDeepgram } from '../../helpers/fake-deepgram.js';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, scenario, sippCall, type InboundSetup } from '../../helpers/inbound.js';
import { sippMissing } from '../../helpers/sipp.js';
import { FakeOpenAi, textReply, toolCallReply } from '../../helpers/openai-fake.js';
import { Phone } from '../../helpers/phone.js';
import { speech8k, trimmed } from '../../helpers/speech.js';
import { webhook, type Hook } from '../../helpers/webhook-server.js';
import { rms } from '../../../media/audio/tone.js';
import { DtmfReceiver } from '../../../media/audio/dtmf.js';
import { VoiceActivity } from '../../../media/audio/vad.js';
import { FliteTts } from '../../../engine/agents/providers/tts/flite.js';
import { testConfig, testLogger } from '../../helpers/config.js';
import type { Call } from '../../../engine/calls/call.js';
import '../../helpers/allow-loopback.js';

interface Ctx {
  s: InboundSetup;
  hook: Hook;
  llm: FakeOpenAi;
  dg: FakeDeepgram;
  toolId: string;
}
const test = anyTest as TestFn<Ctx>;
const missing = sippMissing();
/** The caller is SIPp: without it the file has nothing to call with. */
const sippTest = missing ? test.skip : test.serial;
if (missing) test(`agent call tests skipped: ${missing}`, (t) => t.pass());

test.before(async (t) => {
  if (missing) return;
  const s = await inboundSetup();
  const [hook, llm, dg] = await Promise.all([webhook(), FakeOpenAi.start(), fakeDeepgram({ transcripts: ['what is my balance', 'stop please', 'thanks'] })]);
  const h = s.tenant.headers;
  for (const body of [
    { name: 'dg', kind: 'deepgram', baseUrl: dg.url, apiKey: 'dg-test-key' },
    { name: 'local-llm', kind: 'openai', baseUrl: llm.url, apiKey: 'sk-local' },
  ]) {
    const r = await request(s.base, 'POST', '/api/v1/providers', { headers: h, body });
    if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  }
  const tool = await request<{ id: string }>(s.base, 'POST', '/api/v1/tools', {
    headers: h,
    body: {
      name: 'balance',
      description: 'The caller’s balance',
      parameters: { type: 'object', properties: { account: { type: 'string' } }, required: ['account'] },
      action: { type: 'webhook', url: hook.url, secret: hook.secret, timeoutMs: 3000 },
    },
  });
  t.context = { s, hook, llm, dg, toolId: tool.body.id };
});
test.after.always(async (t) => {
  await t.context.s?.close();
  await Promise.all([t.context.hook?.close(), t.context.llm?.close(), t.context.dg?.close()]);
});

interface CallView {
  endReason: string | null;
  hangupBy: string | null;
  transcript: { role: string; text: string }[];
  metrics: { turns?: Record<string, number | null>[]; turnLatencyMs?: number[] };
}

async function setAgent(c: Ctx, config: Record<string, unknown>): Promise<void> {
  const r = await request(c.s.base, 'PATCH', `/api/v1/agents/${c.s.agentId}`, { headers: c.s.tenant.headers, body: { config } });
  if (r.status !== 200) throw new Error(JSON.stringify(r.body));
}

/** Places a call into the agent; resolves with the live call, its phone, and SIPp's end. */
async function dial(c: Ctx) {
  const phone = await Phone.open();
  const before = new Set(c.s.app.engine.calls.calls.keys());
  const sipp = sippCall(c.s, scenario('agent-call.xml', { rtpPort: phone.port, byeTimeoutMs: 40_000 }));
  const live: Call = await waitFor(() => [...c.s.app.engine.calls.calls.values()].find((x) => !before.has(x.id) && x.parts.leg && x.state === 'answered'), 10_000);
  phone.start(Number(/m=audio (\d+)/.exec(live.parts.leg!.answerSdp)![1]));
  return { phone, live, sipp };
}

async function ended(c: Ctx, id: string): Promise<CallView> {
  return waitFor(async () => {
    const r = await request<CallView>(c.s.base, 'GET', `/api/v1/calls/${id}`, { headers: c.s.tenant.headers });
    return r.body.endReason ? r.body : undefined;
  }, 15_000);
}

async function eventsOf(c: Ctx, id: string): Promise<{ type: string; data: Record<string, unknown> }[]> {
  const r = await request<{ items: { type: string; data: Record<string, unknown> }[] }>(c.s.base, 'GET', `/api/v1/calls/${id}/events?limit=100`, { headers: c.s.tenant.headers });
  return r.body.items;
}

const said = (c: Ctx, id: string, text: string) => waitFor(async () => (await eventsOf(c, id)).some((e) => e.type === 'call.agent_said' && e.data.text === text), 20_000);

sippTest('the caller asks, the model calls the tool, its answer is spoken, and each turn’s latency is recorded', async (t) => {
  const c = t.context;
  c.llm.reply(
    { stream: toolCallReply([{ id: 'call_1', name: 'balance', arguments: '{"account":"12345"}' }]) },
    { stream: textReply(['Your balance ', 'is 42 dollars. ', 'Anything else?'], 30) },
  );
  await setAgent(c, {
    firstMessage: 'Hi, how can I help?',
    llm: { provider: 'local-llm', model: 'gpt-4o-mini' },
    transcriber: { provider: 'dg' },
    toolIds: [c.toolId],
    timeouts: { silenceMs: 3000 }, // the caller speaks after the greeting: room for a loaded machine
  });
  const { phone, live, sipp } = await dial(c);
  t.teardown(() => phone.close());
  await said(c, live.id, 'Hi, how can I help?');
  phone.say(speech8k('What is my balance?'));
  const r = await sipp;
  t.is(r.code, 0, r.errors);
  const call = await ended(c, live.id);
  // Silent twice after the answer: "Are you still there?", then the agent hangs up.
  t.is(call.endReason, 'agent_hangup');
  t.deepEqual(
    call.transcript.map((e) => `${e.role}: ${e.text}`),
    [
      'agent: Hi, how can I help?',
      'caller: what is my balance',
      'tool: balance: ok',
      'agent: Your balance is 42 dollars.',
      'agent: Anything else?',
      'agent: Are you still there?',
      'system: hangup: caller silent',
    ],
  );
  // The model saw the greeting, the caller's words, then the tool's result for its call.
  const [first, second] = c.llm.requests;
  t.is(first!.headers.authorization, 'Bearer sk-local');
  const msgs = second!.body.messages as { role: string; content: string | null; tool_call_id?: string }[];
  t.deepEqual(msgs.slice(1, 3).map((m) => [m.role, m.content]), [['assistant', 'Hi, how can I help?'], ['user', 'what is my balance']]);
  const toolMsg = msgs.find((m) => m.role === 'tool')!;
  t.is(toolMsg.tool_call_id, 'call_1');
  t.deepEqual(JSON.parse(toolMsg.content!), { ok: true, result: { balance: 42 } });
  t.true(c.hook.seen.at(-1)!.signatureOk);
  t.deepEqual((c.hook.seen.at(-1)!.body as { arguments: unknown }).arguments, { account: '12345' });
  // One turn, measured from the end of the caller's speech.
  const turn = call.metrics.turns![0]!;
  t.log('turn (ms after the caller stopped):', JSON.stringify(turn));
  for (const k of ['sttFinalMs', 'llmFirstTokenMs', 'ttsFirstAudioMs', 'firstAudioOutMs']) t.is(typeof turn[k], 'number', k);
  t.true(turn.sttFinalMs! >= 0 && turn.llmFirstTokenMs! > turn.sttFinalMs! && turn.firstAudioOutMs! >= turn.llmFirstTokenMs!);
  t.deepEqual(call.metrics.turnLatencyMs, [turn.firstAudioOutMs]);
  const types = (await eventsOf(c, live.id)).map((e) => e.type);
  for (const type of ['call.speech_started', 'call.transcript', 'call.tool_called', 'call.tool_result']) t.true(types.includes(type), type);
});

sippTest('barge-in: the caller talks over the agent and its audio stops on the wire', async (t) => {
  const c = t.context;
  c.llm.reply({ stream: textReply(['Okay, stopping.']) });
  const long = 'Thank you for calling. '.repeat(3) + 'This is a long announcement that goes on for a while so that the caller has time to interrupt it. '.repeat(3);
  await setAgent(c, { firstMessage: long, llm: { provider: 'local-llm', model: 'gpt-4o-mini' }, transcriber: { provider: 'dg' }, toolIds: [], timeouts: { silenceMs: 1000 } });
  // Synthesised before the call: flite in this process would stall the in-process engine's loop.
  const stop = trimmed(speech8k('Stop please.'));
  const { phone, live, sipp } = await dial(c);
  t.teardown(() => phone.close());
  // Talk once the agent has been speaking for a second.
  await waitFor(() => phone.loudMs() >= 1000, 15_000);
  phone.say(stop);
  await waitFor(() => phone.saidAt !== null, 2000);
  const spokeAt = phone.saidAt!;
  await sipp;
  const call = await ended(c, live.id);
  // Interrupted, the agent sends nothing more (its queue is dropped): the greeting's last packet
  // is the one before the first gap of 200 ms in what the phone receives (the agent's answer to
  // the interruption comes a second or more later, after the caller has finished).
  const after = phone.heard(spokeAt);
  let last = spokeAt;
  for (const f of after) {
    if (f.at - last > 200) break;
    last = f.at;
  }
  const stopMs = last - spokeAt;
  t.log(`the agent's RTP stopped ${stopMs.toFixed(1)} ms after the caller's first speech packet left the phone (it is held on the first voiced frame, cut when the second confirms speech)`);
  t.true(stopMs < 100, `${stopMs} ms`);
  // And the agent was speaking when the caller started, then stayed quiet while the caller spoke
  // (its answer comes only after the caller's turn ends): not a stop read off a pause.
  t.true(phone.heard(spokeAt - 200).some((f) => f.at < spokeAt && rms(f.pcm) > 300), 'the agent was speaking just before');
  const quiet = phone.heard(spokeAt + 150).filter((f) => f.at < spokeAt + 700);
  t.is(quiet.filter((f) => rms(f.pcm) > 300).length, 0, 'the agent was silent while the caller spoke');
  const greeting = call.transcript.find((e) => e.role === 'agent')!;
  t.regex(greeting.text, /\[interrupted\]$/);
  const evs = await eventsOf(c, live.id);
  t.true(evs.some((e) => e.type === 'call.agent_said' && e.data.interrupted === true));
  t.true(call.transcript.some((e) => e.text === 'Okay, stopping.'));
});

sippTest('a single voiced frame over the agent (a click, a cough) holds its audio for a moment, then it goes on: nothing cut, nothing lost', async (t) => {
  const c = t.context;
  const greeting = 'Thank you for calling. This announcement is long enough for a click to land in the middle of it.';
  await setAgent(c, { firstMessage: greeting, llm: null, transcriber: null, toolIds: [] });
  // The greeting as the engine's flite says it, frame for frame; and the caller's first voiced
  // frame of a word (as a detector fresh from silence finds it), alone.
  const flite = new FliteTts({ log: testLogger(testConfig()) });
  let samples = 0;
  for await (const pcm of flite.synthesize({ text: greeting, voiceId: 'kal', signal: new AbortController().signal })) samples += pcm.length;
  await flite.close();
  const expectedFrames = Math.ceil(samples / 160);
  const word = trimmed(speech8k('Stop.'));
  const vad = await VoiceActivity.create({ startMs: 40 });
  for (let i = 0; i < 50; i++) vad.push(new Int16Array(160));
  let upTo = -1;
  for (let i = 0; upTo < 0 && i + 160 <= word.length; i += 160) if ((vad.push(word.slice(i, i + 160)), vad.onset)) upTo = i + 160;
  vad.close();
  t.true(upTo > 0, 'a voiced frame in the word');
  const { phone, live, sipp } = await dial(c);
  t.teardown(() => phone.close());
  await waitFor(() => phone.loudMs() >= 1000, 15_000);
  phone.say(word.slice(0, upTo));
  await said(c, live.id, greeting);
  const clickAt = phone.saidAt!;
  t.is((await request(c.s.base, 'POST', `/api/v1/calls/${live.id}/hangup`, { headers: c.s.tenant.headers })).status, 202);
  await sipp;
  const call = await ended(c, live.id);
  t.deepEqual(call.transcript.map((e) => `${e.role}: ${e.text}`), [`agent: ${greeting}`], 'not interrupted');
  // Every frame of the greeting reached the phone, once.
  const heard = phone.peer.received.filter((r) => r.header.payloadType === 0);
  t.is(heard.length, expectedFrames, `${heard.length} frames heard, the greeting has ${expectedFrames}`);
  // It was held: after the click the greeting goes on as a new talkspurt (marker bit), after a
  // pause of one to three frame slots. The greeting is one talkspurt otherwise.
  const spurts = heard.filter((r, i) => i > 0 && r.header.marker);
  const near = heard.filter((r) => r.at > clickAt - 40 && r.at < clickAt + 200);
  const pause = Math.max(...near.map((r, i) => (i ? r.at - near[i - 1]!.at : 0)));
  t.log(`${upTo / 160} frames of the word sent, the last one voiced; the agent paused ${pause.toFixed(1)} ms, then went on (${heard.length}/${expectedFrames} frames heard; new talkspurts at ${spurts.map((r) => (r.at - clickAt).toFixed(0)).join(', ')} ms from the click)`);
  t.is(spurts.length, 1, 'one new talkspurt');
  t.true(spurts[0]!.at > clickAt && spurts[0]!.at < clickAt + 150, 'just after the click');
  t.true(pause >= 15 && pause < 150, `pause ${pause} ms`);
});

sippTest('a model that fails: the fallback is spoken, the error is logged, and the call goes on to the next turn', async (t) => {
  const c = t.context;
  c.llm.reply({ status: 500, body: '{"error":{"message":"model overloaded"}}' }, { stream: textReply(['All good now.']) });
  await setAgent(c, { firstMessage: 'Hello.', llm: { provider: 'local-llm', model: 'gpt-4o-mini' }, transcriber: { provider: 'dg' }, toolIds: [], timeouts: { silenceMs: 1000 } });
  const { phone, live, sipp } = await dial(c);
  t.teardown(() => phone.close());
  await said(c, live.id, 'Hello.');
  phone.say(speech8k('What is my balance?'));
  await said(c, live.id, 'Sorry, something went wrong on my side.');
  phone.say(speech8k('Thanks.'));
  await sipp;
  const call = await ended(c, live.id);
  t.true(call.transcript.some((e) => e.text === 'All good now.'), JSON.stringify(call.transcript));
  const errors = await request<{ items: { kind: string; code: string; message: string; callId: string }[] }>(c.s.base, 'GET', `/api/v1/analytics/errors?kind=provider`, { headers: c.s.tenant.headers });
  const mine = errors.body.items.filter((e) => e.callId === live.id);
  t.is(mine.length, 1, JSON.stringify(errors.body));
  t.is(mine[0]!.code, 'http_error');
  t.regex(mine[0]!.message, /model overloaded/);
  t.true((await eventsOf(c, live.id)).some((e) => e.type === 'call.error' && e.data.code === 'http_error'));
});

sippTest('a live call steered over REST: say, mute, and DTMF reaching the caller as RFC 4733', async (t) => {
  const c = t.context;
  await setAgent(c, { firstMessage: 'Hello.', llm: null, transcriber: null, toolIds: [] });
  const { phone, live, sipp } = await dial(c);
  t.teardown(() => phone.close());
  await said(c, live.id, 'Hello.');
  const h = c.s.tenant.headers;
  const act = (what: string, body?: unknown) => request(c.s.base, 'POST', `/api/v1/calls/${live.id}/${what}`, { headers: h, ...(body ? { body } : {}) });
  const sayAt = performance.now();
  t.is((await act('say', { text: 'This was said through the API.' })).status, 202);
  await said(c, live.id, 'This was said through the API.');
  t.true(phone.loudMs(sayAt) >= 1000, `${phone.loudMs(sayAt)} ms heard`);
  // Muted: the agent speaks (and it is recorded as said) but nothing reaches the caller.
  t.is((await act('mute')).status, 202);
  const mutedAt = performance.now();
  await act('say', { text: 'Nobody hears this sentence.' });
  await said(c, live.id, 'Nobody hears this sentence.');
  t.is(phone.loudMs(mutedAt), 0);
  t.is((await act('unmute')).status, 202);
  // Digits: telephone events on the caller's RTP, decoded as a phone would.
  const dtmfAt = performance.now();
  t.is((await act('dtmf', { digits: '42#' })).status, 202);
  const digits = await waitFor(() => {
    const rx = new DtmfReceiver();
    const got = phone.peer.received.filter((r) => r.at >= dtmfAt && r.header.payloadType === 101).flatMap((r) => rx.receive(r.header.timestamp, r.payload)?.digit ?? []);
    return got.length >= 3 ? got : undefined;
  }, 5000);
  t.deepEqual(digits, ['4', '2', '#']);
  t.is((await request(c.s.base, 'POST', `/api/v1/calls/${live.id}/hangup`, { headers: h })).status, 202);
  await sipp;
  t.is((await ended(c, live.id)).endReason, 'api_hangup');
});
