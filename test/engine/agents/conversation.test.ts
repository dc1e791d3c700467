/**
 * The conversation loop with the real OpenAI client against a local server speaking OpenAI's
 * streaming protocol: sentences spoken while the answer streams, tool round trips (the tool
 * result goes back with its tool_call_id), invalid arguments, the tool-round bound, barge-in
 * (only what was spoken stays, marked), failures propagating, and the history bound.
 */
import test, { type ExecutionContext } from 'ava';
import { Conversation, INTERRUPTED_MARK, type ConversationOptions, type TurnHooks } from '../../../engine/agents/llm/conversation.js';
import { OpenAiChat } from '../../../engine/agents/providers/llm/openai-chat.js';
import { ProviderError, type LlmChunk, type LlmProvider, type LlmToolCall } from '../../../engine/agents/providers/contracts.js';
import { FakeOpenAi, textReply, toolCallReply } from '../../helpers/openai-fake.js';
import { waitFor } from '../../helpers/http.js';
import '../../helpers/allow-loopback.js';

const SYSTEM = 'You are a helpful phone agent. Be brief.';
const weather = {
  name: 'get_weather',
  description: 'The forecast for a city',
  parameters: { type: 'object' as const, properties: { city: { type: 'string' as const } }, required: ['city'] },
};
const time = { name: 'get_time', description: 'The time in a city', parameters: { type: 'object' as const, properties: {} } };

/** A fake server for one test, and a conversation talking to it. */
async function setup(t: ExecutionContext, opts: Partial<ConversationOptions> = {}) {
  const fake = await FakeOpenAi.start();
  t.teardown(() => fake.close());
  const llm = new OpenAiChat({ apiKey: 'sk-test', baseUrl: fake.url, firstTokenTimeoutMs: 2000, idleTimeoutMs: 2000 });
  const conv = new Conversation({ llm, model: 'gpt-4o-mini', temperature: 0.2, system: SYSTEM, tools: [weather, time], ...opts });
  return { fake, conv };
}

/** Hooks that record what was spoken (with when) and the tool calls, answering with `results`. */
function recorder(results: Record<string, (call: LlmToolCall) => Promise<string> | string> = {}) {
  const ctl = new AbortController();
  const started = performance.now();
  const spoken: { text: string; at: number }[] = [];
  const calls: LlmToolCall[] = [];
  const hooks: TurnHooks = {
    speak: (text) => spoken.push({ text, at: performance.now() - started }),
    runTool: async (call) => {
      calls.push(call);
      return (results[call.name] ?? (() => '{"ok":true}'))(call);
    },
    signal: ctl.signal,
  };
  return { hooks, spoken, calls, ctl, started };
}

test('speaks each sentence while the answer still streams, and keeps the exchange', async (t) => {
  const { fake, conv } = await setup(t);
  fake.reply({ stream: textReply(['Hello', ' there!', ' It is', ' 3.5 degrees', ' in Oslo.', ' Anything', ' else?'], 120) });
  const r = recorder();
  const result = await conv.turn('How cold is Oslo?', r.hooks);
  const endedAt = performance.now() - r.started;
  t.deepEqual(
    r.spoken.map((s) => s.text),
    ['Hello there!', 'It is 3.5 degrees in Oslo.', 'Anything else?'],
  );
  t.log(`first sentence spoken at ${r.spoken[0]!.at.toFixed(0)} ms, turn ended at ${endedAt.toFixed(0)} ms, first token at ${result.firstTokenMs} ms`);
  t.true(endedAt - r.spoken[0]!.at >= 300, 'the first sentence was spoken about 600 ms (5 pauses) before the stream ended');
  t.is(result.text, 'Hello there! It is 3.5 degrees in Oslo. Anything else?');
  t.is(result.toolCalls, 0);
  t.is(result.finishReason, 'stop');
  t.true(result.firstTokenMs !== null && result.firstTokenMs >= 100 && result.firstTokenMs < r.spoken[0]!.at + 1);
  const sent = fake.requests[0]!.body;
  t.deepEqual(sent.messages, [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: 'How cold is Oslo?' },
  ]);
  t.is(sent.model, 'gpt-4o-mini');
  t.is(sent.temperature, 0.2);
  t.is((sent.tools as unknown[]).length, 2);
  t.deepEqual(conv.messages.slice(1), [
    { role: 'user', content: 'How cold is Oslo?' },
    { role: 'assistant', content: 'Hello there! It is 3.5 degrees in Oslo. Anything else?' },
  ]);
});

test('the opening turn (no user text) sends the system prompt alone', async (t) => {
  const { fake, conv } = await setup(t);
  fake.reply({ stream: textReply(['Welcome to Acme.', ' How can I help?']) });
  const r = recorder();
  const result = await conv.turn(null, r.hooks);
  t.deepEqual(fake.requests[0]!.body.messages, [{ role: 'system', content: SYSTEM }]);
  t.deepEqual(r.spoken.map((s) => s.text), ['Welcome to Acme.', 'How can I help?']);
  t.is(result.text, 'Welcome to Acme. How can I help?');
});

test('a tool round trip: the call runs, its result goes back with the tool_call_id, the answer is spoken', async (t) => {
  const { fake, conv } = await setup(t);
  const args = '{"city":"Paris"}';
  fake.reply(
    { stream: toolCallReply([{ id: 'call_w1', name: 'get_weather', arguments: args }], 4, ['One moment.']) },
    { stream: textReply(['It is sunny', ' in Paris.']) },
  );
  const r = recorder({ get_weather: () => '{"forecast":"sunny","tempC":21}' });
  const result = await conv.turn('Weather in Paris?', r.hooks);
  t.deepEqual(r.calls, [{ id: 'call_w1', name: 'get_weather', arguments: args }]);
  t.deepEqual(r.spoken.map((s) => s.text), ['One moment.', 'It is sunny in Paris.']);
  t.deepEqual(result, { text: 'One moment. It is sunny in Paris.', toolCalls: 1, firstTokenMs: result.firstTokenMs, finishReason: 'stop' });
  t.is(fake.requests.length, 2);
  t.deepEqual(fake.requests[1]!.body.messages, [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: 'One moment.', tool_calls: [{ id: 'call_w1', type: 'function', function: { name: 'get_weather', arguments: args } }] },
    { role: 'tool', tool_call_id: 'call_w1', content: '{"forecast":"sunny","tempC":21}' },
  ]);
  t.is(conv.messages.length, 5);
});

test('two tool calls in one answer run in order and both results go back', async (t) => {
  const { fake, conv } = await setup(t);
  fake.reply(
    {
      stream: toolCallReply([
        { id: 'call_a', name: 'get_weather', arguments: '{"city":"Rome"}' },
        { id: 'call_b', name: 'get_time', arguments: '{}' },
      ]),
    },
    { stream: textReply(['Sunny, and it is noon.']) },
  );
  const order: string[] = [];
  const r = recorder({
    get_weather: async () => {
      order.push('weather start');
      await new Promise((res) => setTimeout(res, 50));
      order.push('weather end');
      return '{"forecast":"sunny"}';
    },
    get_time: () => {
      order.push('time');
      return '{"time":"12:00"}';
    },
  });
  const result = await conv.turn('Rome?', r.hooks);
  t.deepEqual(order, ['weather start', 'weather end', 'time']);
  t.is(result.toolCalls, 2);
  const messages = fake.requests[1]!.body.messages as Record<string, unknown>[];
  t.deepEqual(messages.slice(3), [
    { role: 'tool', tool_call_id: 'call_a', content: '{"forecast":"sunny"}' },
    { role: 'tool', tool_call_id: 'call_b', content: '{"time":"12:00"}' },
  ]);
  t.is((messages[2]!.tool_calls as unknown[]).length, 2);
});

test('invalid arguments, non-object arguments and unknown tools are told to the model, not run', async (t) => {
  const { fake, conv } = await setup(t);
  fake.reply(
    {
      stream: toolCallReply([
        { id: 'c1', name: 'get_weather', arguments: '{"city": "Par' },
        { id: 'c2', name: 'get_weather', arguments: '["Paris"]' },
        { id: 'c3', name: 'delete_everything', arguments: '{}' },
        { id: 'c4', name: 'get_time', arguments: '' },
      ]),
    },
    { stream: textReply(['Sorry, let me try again later.']) },
  );
  const r = recorder();
  const result = await conv.turn('Paris?', r.hooks);
  t.deepEqual(r.calls, [{ id: 'c4', name: 'get_time', arguments: '{}' }], 'only the valid call ran (empty arguments are {})');
  t.is(result.toolCalls, 1);
  const results = (fake.requests[1]!.body.messages as { role: string; content: string }[]).filter((m) => m.role === 'tool').map((m) => JSON.parse(m.content) as { error?: string });
  t.regex(results[0]!.error!, /^The arguments are not valid JSON \(.+\)\. Call the tool again with a JSON object\.$/);
  t.is(results[1]!.error, 'The arguments must be a JSON object. Call the tool again with a JSON object.');
  t.is(results[2]!.error, 'There is no tool named "delete_everything".');
  t.deepEqual(results[3], { ok: true });
});

test('a tool that throws becomes an error result for the model', async (t) => {
  const { fake, conv } = await setup(t);
  fake.reply({ stream: toolCallReply([{ id: 'c1', name: 'get_time', arguments: '{}' }]) }, { stream: textReply(['I could not get the time.']) });
  const r = recorder({
    get_time: () => {
      throw new Error('webhook timed out');
    },
  });
  const result = await conv.turn('Time?', r.hooks);
  t.is(result.text, 'I could not get the time.');
  t.is((fake.requests[1]!.body.messages as { content: string }[]).at(-1)!.content, '{"error":"The tool failed: webhook timed out"}');
});

test('after maxToolRounds rounds of tools the model is asked without tools and must answer', async (t) => {
  const { fake, conv } = await setup(t, { maxToolRounds: 2 });
  fake.reply(
    { stream: toolCallReply([{ id: 'r1', name: 'get_time', arguments: '{}' }]) },
    { stream: toolCallReply([{ id: 'r2', name: 'get_time', arguments: '{}' }]) },
    { stream: textReply(['It is noon.']) },
  );
  const r = recorder();
  const result = await conv.turn('Time?', r.hooks);
  t.is(result.toolCalls, 2);
  t.is(result.text, 'It is noon.');
  t.deepEqual(fake.requests.map((q) => 'tools' in q.body), [true, true, false], 'the third request offers no tools');
  t.is((fake.requests[2]!.body.messages as unknown[]).length, 6);
});

test('barge-in: the stream is cut, the history keeps only what was spoken, marked interrupted', async (t) => {
  const { fake, conv } = await setup(t);
  fake.reply({ stream: textReply(['Our opening hours', ' are nine to five.', ' On Saturdays', ' we open', ' at ten.', ' On Sundays we are closed.'], 150) });
  const r = recorder();
  r.hooks.speak = (text) => {
    r.spoken.push({ text, at: 0 });
    r.ctl.abort(); // the caller talks over the first sentence
  };
  const result = await conv.turn('When are you open?', r.hooks);
  t.deepEqual(r.spoken.map((s) => s.text), ['Our opening hours are nine to five.']);
  t.deepEqual(result, { text: 'Our opening hours are nine to five.', toolCalls: 0, firstTokenMs: result.firstTokenMs, finishReason: 'interrupted' });
  t.deepEqual(conv.messages.at(-1), { role: 'assistant', content: `Our opening hours are nine to five.${INTERRUPTED_MARK}` });
  await fake.requests[0]!.finished;
  t.true(fake.requests[0]!.closedEarly, 'the HTTP stream was closed');

  fake.reply({ stream: textReply(['Yes, on Saturdays too.']) });
  await conv.turn('Saturdays?', recorder().hooks);
  t.deepEqual((fake.requests[1]!.body.messages as unknown[]).slice(1), [
    { role: 'user', content: 'When are you open?' },
    { role: 'assistant', content: `Our opening hours are nine to five.${INTERRUPTED_MARK}` },
    { role: 'user', content: 'Saturdays?' },
  ]);
});

test('barge-in before anything was spoken leaves no assistant message; during a tool, the other calls are cancelled', async (t) => {
  const { fake, conv } = await setup(t);
  fake.reply({ stream: [{ pauseMs: 300 }, ...textReply(['Too late.'])] });
  const r1 = recorder();
  const pending = conv.turn('Hello?', r1.hooks);
  await waitFor(() => fake.requests.length === 1); // the request reached the server
  r1.ctl.abort();
  const first = await pending;
  t.deepEqual(first, { text: '', toolCalls: 0, firstTokenMs: null, finishReason: 'interrupted' });
  t.deepEqual(conv.messages.slice(1), [{ role: 'user', content: 'Hello?' }]);

  fake.reply({
    stream: toolCallReply([
      { id: 'x1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
      { id: 'x2', name: 'get_time', arguments: '{}' },
    ]),
  });
  const r2 = recorder({
    get_weather: () => {
      r2.ctl.abort();
      return '{"forecast":"snow"}';
    },
  });
  const second = await conv.turn('Oslo?', r2.hooks);
  t.is(second.finishReason, 'interrupted');
  t.is(second.toolCalls, 1);
  t.is(fake.requests.length, 2, 'no request after the interrupted tool round');
  t.deepEqual(conv.messages.slice(-2), [
    { role: 'tool', toolCallId: 'x1', content: '{"forecast":"snow"}' },
    { role: 'tool', toolCallId: 'x2', content: '{"error":"Not run: the caller interrupted."}' },
  ]);
});

test('a provider failure propagates as a ProviderError; what was spoken stays; the next turn works', async (t) => {
  const { fake, conv } = await setup(t);
  fake.reply({ status: 500, body: '{"error":{"message":"The server had an error","type":"server_error"}}' });
  const err = await t.throwsAsync(conv.turn('Hi', recorder().hooks), { instanceOf: ProviderError });
  t.is(err!.code, 'http_error');

  fake.reply({ stream: [...textReply(['I can help.', ' Let me', ' check']).slice(0, -2), 'data: {oops\n\n'] });
  const r = recorder();
  const garbled = await t.throwsAsync(conv.turn('Can you help?', r.hooks), { instanceOf: ProviderError });
  t.is(garbled!.code, 'bad_response');
  t.deepEqual(r.spoken.map((s) => s.text), ['I can help.']);
  t.deepEqual(conv.messages.slice(1), [
    { role: 'user', content: 'Hi' },
    { role: 'user', content: 'Can you help?' },
    { role: 'assistant', content: 'I can help.' },
  ]);

  fake.reply({ stream: textReply(['Back again.']) });
  t.is((await conv.turn('Still there?', recorder().hooks)).text, 'Back again.');
});

test('the history is bounded and never starts with a tool result', async (t) => {
  const { fake, conv } = await setup(t, { maxHistoryMessages: 5 });
  for (let i = 0; i < 6; i++) {
    fake.reply({ stream: toolCallReply([{ id: `t${i}`, name: 'get_time', arguments: '{}' }]) }, { stream: textReply([`Answer ${i}.`]) });
    await conv.turn(`Question ${i}?`, recorder().hooks);
    const kept = conv.messages;
    t.true(kept.length <= 6, `${kept.length} messages after turn ${i}`);
    t.is(kept[0]!.role, 'system');
    t.not(kept[1]!.role, 'tool');
  }
  t.deepEqual(conv.messages.slice(-4), [
    { role: 'user', content: 'Question 5?' },
    { role: 'assistant', content: null, toolCalls: [{ id: 't5', name: 'get_time', arguments: '{}' }] },
    { role: 'tool', toolCallId: 't5', content: '{"ok":true}' },
    { role: 'assistant', content: 'Answer 5.' },
  ]);
  const sent = fake.requests.at(-1)!.body.messages as { role: string }[];
  t.true(sent.length <= 6 && sent[0]!.role === 'system' && sent[1]!.role !== 'tool', 'the request carried the bounded history');
});

test('a turn started while another runs waits for it', async (t) => {
  const { fake, conv } = await setup(t);
  fake.reply({ stream: textReply(['First answer.'], 100) }, { stream: textReply(['Second answer.']) });
  const [a, b] = await Promise.all([conv.turn('One?', recorder().hooks), conv.turn('Two?', recorder().hooks)]);
  t.is(a.text, 'First answer.');
  t.is(b.text, 'Second answer.');
  t.deepEqual(
    conv.messages.slice(1).map((m) => m.content),
    ['One?', 'First answer.', 'Two?', 'Second answer.'],
  );
});

test('a provider breaking its contract (a plain Error, no done) still fails as a ProviderError; a throwing speak is not blamed on it', async (t) => {
  // Stand-ins for other LlmProvider implementations: the OpenAI client never does this.
  const provider = (chunks: LlmChunk[], error: Error | null): LlmProvider => ({
    name: 'other',
    async *chat() {
      yield* chunks;
      if (error) throw error;
    },
  });
  const conv = (llm: LlmProvider) => new Conversation({ llm, model: 'm', system: SYSTEM, tools: [] });
  const thrown = await t.throwsAsync(conv(provider([{ type: 'text', text: 'Hi.' }], new TypeError('boom'))).turn('x', recorder().hooks), { instanceOf: ProviderError });
  t.is(thrown!.message, 'other: boom');
  t.is(thrown!.code, 'bad_response');
  const unfinished = await t.throwsAsync(conv(provider([{ type: 'text', text: 'Hi. And' }], null)).turn('x', recorder().hooks), { instanceOf: ProviderError });
  t.is(unfinished!.message, 'other: The answer ended without finishing');
  const r = recorder();
  r.hooks.speak = () => {
    throw new RangeError('queue full');
  };
  await t.throwsAsync(conv(provider([{ type: 'text', text: 'Hi. There.' }, { type: 'done', finishReason: 'stop' }], null)).turn('x', r.hooks), {
    instanceOf: RangeError,
    message: 'queue full',
  });
});
