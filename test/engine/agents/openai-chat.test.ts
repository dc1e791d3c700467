/**
 * The OpenAI-compatible chat client against a local server speaking OpenAI's streaming
 * protocol (test/helpers/openai-fake.ts): the request it sends, text as it streams, tool calls
 * assembled from their deltas, every failure as the right ProviderError, abort closing the
 * connection, and the no-key variant of local servers (Ollama, llama.cpp).
 */
import test from 'ava';
import net from 'node:net';
import { OpenAiChat } from '../../../engine/agents/providers/llm/openai-chat.js';
import { ProviderError, type LlmChunk, type LlmRequest, type ProviderErrorCode } from '../../../engine/agents/providers/contracts.js';
import { FakeOpenAi, DONE, ROLE, chunk, textReply, toolCallReply } from '../../helpers/openai-fake.js';
import '../../helpers/allow-loopback.js';

const KEY = 'sk-test-0123456789abcdef';

const weather = {
  name: 'get_weather',
  description: 'The forecast for a city',
  parameters: { type: 'object' as const, properties: { city: { type: 'string' as const } }, required: ['city'] },
};

function request(over: Partial<LlmRequest> = {}): LlmRequest {
  return { model: 'gpt-4o-mini', temperature: 0.3, messages: [{ role: 'user', content: 'Hi' }], tools: [], signal: new AbortController().signal, ...over };
}

/** Every chunk with the ms since the start at which it arrived. */
async function collect(llm: OpenAiChat, req: LlmRequest): Promise<{ chunks: LlmChunk[]; at: number[] }> {
  const started = performance.now();
  const chunks: LlmChunk[] = [];
  const at: number[] = [];
  for await (const c of llm.chat(req)) {
    chunks.push(c);
    at.push(performance.now() - started);
  }
  return { chunks, at };
}

async function failure(llm: OpenAiChat, req: LlmRequest = request()): Promise<ProviderError> {
  const err = await collect(llm, req).then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof ProviderError)) throw new Error(`expected a ProviderError, got ${String(err)}`);
  return err;
}

let fake: FakeOpenAi;
test.before(async () => {
  fake = await FakeOpenAi.start();
});
test.after.always(async () => {
  await fake?.close();
});

// The fake answers requests in order: tests that use it run serially.
test.serial('sends the request OpenAI expects and streams the text in order', async (t) => {
  fake.reply({ stream: textReply(['Hello', ' there', '!', ' How can I', ' help?']) });
  const llm = new OpenAiChat({ apiKey: KEY, baseUrl: fake.url });
  const req = request({
    tools: [weather],
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
      { role: 'tool', toolCallId: 'call_1', content: '{"forecast":"sunny"}' },
    ],
  });
  const { chunks } = await collect(llm, req);
  t.deepEqual(chunks, [
    { type: 'text', text: 'Hello' },
    { type: 'text', text: ' there' },
    { type: 'text', text: '!' },
    { type: 'text', text: ' How can I' },
    { type: 'text', text: ' help?' },
    { type: 'done', finishReason: 'stop' },
  ]);
  const got = fake.requests.at(-1)!;
  t.is(got.method, 'POST');
  t.is(got.url, '/v1/chat/completions');
  t.is(got.headers.authorization, `Bearer ${KEY}`);
  t.is(got.headers['content-type'], 'application/json');
  t.deepEqual(got.body, {
    model: 'gpt-4o-mini',
    temperature: 0.3,
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"forecast":"sunny"}' },
    ],
    tools: [{ type: 'function', function: weather }],
    stream: true,
  });
});

test.serial('yields each delta as it arrives, not at the end of the stream', async (t) => {
  fake.reply({ stream: textReply(['One.', ' Two.', ' Three.'], 150) });
  const { chunks, at } = await collect(new OpenAiChat({ apiKey: KEY, baseUrl: fake.url }), request());
  t.is(chunks.length, 4);
  const first = at[0]!;
  const end = at.at(-1)!;
  t.log(`first text at ${first.toFixed(0)} ms, done at ${end.toFixed(0)} ms`);
  t.true(end - first >= 150, 'the first delta came about 300 ms (2 pauses) before the end');
});

test.serial('assembles a tool call whose arguments arrive in several deltas, and two calls in one answer', async (t) => {
  const args1 = '{"city":"Paris","days":3}';
  const args2 = '{"city":"Berlin"}';
  fake.reply({ stream: toolCallReply([{ id: 'call_a', name: 'get_weather', arguments: args1 }], 5) });
  fake.reply({
    stream: toolCallReply(
      [
        { id: 'call_b', name: 'get_weather', arguments: args2 },
        { id: 'call_c', name: 'get_time', arguments: '{}' },
      ],
      4,
      ['Let me check.'],
    ),
  });
  const llm = new OpenAiChat({ apiKey: KEY, baseUrl: fake.url });
  const one = await collect(llm, request({ tools: [weather] }));
  t.deepEqual(one.chunks, [
    { type: 'tool_call', call: { id: 'call_a', name: 'get_weather', arguments: args1 } },
    { type: 'done', finishReason: 'tool_calls' },
  ]);
  const two = await collect(llm, request({ tools: [weather] }));
  t.deepEqual(two.chunks, [
    { type: 'text', text: 'Let me check.' },
    { type: 'tool_call', call: { id: 'call_b', name: 'get_weather', arguments: args2 } },
    { type: 'tool_call', call: { id: 'call_c', name: 'get_time', arguments: '{}' } },
    { type: 'done', finishReason: 'tool_calls' },
  ]);
});

test.serial('reads comments, CRLF line ends and events split across reads, even inside a UTF-8 character', async (t) => {
  const event = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'Grüße 👋' }, finish_reason: null }] })}\r\n\r\n`;
  const bytes = Buffer.from(event, 'utf8');
  const cut = bytes.indexOf(Buffer.from('👋')) + 2; // in the middle of the emoji's 4 bytes
  const pieces = [bytes.subarray(0, 9), bytes.subarray(9, cut), bytes.subarray(cut, bytes.length - 1), bytes.subarray(bytes.length - 1)];
  const frames = [': keep-alive\r\n\r\n', ROLE];
  // The fake writes whole strings: a raw server sends the split bytes, one HTTP chunk each.
  const server = net.createServer((sock) => {
    sock.once('data', async () => {
      sock.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n');
      const write = (b: Buffer) => sock.write(`${b.length.toString(16)}\r\n${b.toString('latin1')}\r\n`, 'latin1');
      write(Buffer.from(frames[0]!, 'utf8'));
      write(Buffer.from(frames[1]!, 'utf8'));
      for (const p of pieces) {
        write(p);
        await new Promise((r) => setTimeout(r, 30));
      }
      write(Buffer.from(`${chunk({}, 'stop').replace(/\n/g, '\r\n')}${DONE}`, 'utf8'));
      sock.end('0\r\n\r\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const { chunks } = await collect(new OpenAiChat({ apiKey: null, baseUrl: `http://127.0.0.1:${port}/v1` }), request());
    t.deepEqual(chunks, [
      { type: 'text', text: 'Grüße 👋' },
      { type: 'done', finishReason: 'stop' },
    ]);
  } finally {
    server.close();
  }
});

test.serial('an API key of null sends no Authorization header (Ollama, llama.cpp)', async (t) => {
  fake.reply({ stream: textReply(['Hi.']) });
  const { chunks } = await collect(new OpenAiChat({ apiKey: null, baseUrl: `${fake.url}/` }), request({ model: 'llama3.1', temperature: undefined }));
  t.deepEqual(chunks.at(-1), { type: 'done', finishReason: 'stop' });
  const got = fake.requests.at(-1)!;
  t.is(got.url, '/v1/chat/completions', 'a trailing slash on the base URL is tolerated');
  t.false('authorization' in got.headers);
  t.deepEqual(got.body, { model: 'llama3.1', messages: [{ role: 'user', content: 'Hi' }], stream: true }, 'no temperature, no tools');
});

test.serial('HTTP failures: 401 and 403 auth, 429 rate_limited, 500 http_error with the service message, never the key', async (t) => {
  const llm = new OpenAiChat({ apiKey: KEY, baseUrl: fake.url });
  const cases: [number, string, ProviderErrorCode, string][] = [
    [401, `{"error":{"message":"Incorrect API key provided: ${KEY}.","type":"invalid_request_error","code":"invalid_api_key"}}`, 'auth', 'Incorrect API key provided: [redacted].'],
    [403, '{"error":{"message":"Project does not have access to model","type":"invalid_request_error"}}', 'auth', 'Project does not have access to model'],
    [429, '{"error":{"message":"Rate limit reached for gpt-4o-mini","type":"requests","code":"rate_limit_exceeded"}}', 'rate_limited', 'Rate limit reached for gpt-4o-mini'],
    [500, '{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}', 'http_error', 'The server had an error while processing your request.'],
    [404, '{"error":"model \\"llama9\\" not found, try pulling it first"}', 'http_error', 'model "llama9" not found, try pulling it first'],
    [502, '<html>Bad Gateway</html>', 'http_error', 'Bad Gateway'],
  ];
  for (const [status, body, code, detail] of cases) {
    fake.reply({ status, body, contentType: body.startsWith('<') ? 'text/html' : 'application/json' });
    const err = await failure(llm);
    t.is(err.code, code, String(status));
    t.is(err.status, status);
    t.is(err.message, `openai: HTTP ${status}: ${detail}`);
    t.false(err.message.includes(KEY));
  }
});

test.serial('a chunk that is not JSON, an error event, and a stream cut before the end are bad_response / http_error', async (t) => {
  const llm = new OpenAiChat({ apiKey: KEY, baseUrl: fake.url });
  fake.reply({ stream: [ROLE, chunk({ content: 'Hel' }), 'data: {"choices":[{"delta":{"content":"lo"}\n\n', DONE] });
  const seen: LlmChunk[] = [];
  const err = await (async () => {
    try {
      for await (const c of llm.chat(request())) seen.push(c);
    } catch (e) {
      return e as ProviderError;
    }
    return null;
  })();
  t.deepEqual(seen, [{ type: 'text', text: 'Hel' }], 'what came before the garbage was yielded');
  t.is(err?.code, 'bad_response');
  t.regex(err!.message, /not JSON/);

  fake.reply({ stream: [ROLE, 'data: {"error":{"message":"The model is overloaded","type":"server_error"}}\n\n'] });
  const overloaded = await failure(llm);
  t.is(overloaded.code, 'http_error');
  t.regex(overloaded.message, /overloaded/);

  fake.reply({ stream: [ROLE, chunk({ content: 'Half an ans' })] }); // ends cleanly, without finish or [DONE]
  t.is((await failure(llm)).code, 'bad_response');

  fake.reply({ stream: [ROLE, chunk({ content: 'Half' })], then: 'destroy' });
  const reset = await failure(llm);
  t.is(reset.code, 'network', 'a connection reset mid-stream');
  t.log(`a reset mid-stream: ${reset.message}`);

  // A runaway stream is cut at maxResponseBytes.
  fake.reply({ stream: textReply(Array.from({ length: 20 }, () => 'blah ')) });
  const capped = await failure(new OpenAiChat({ apiKey: KEY, baseUrl: fake.url, maxResponseBytes: 1000 }));
  t.is(capped.code, 'bad_response');
  t.is(capped.message, 'openai: The answer exceeds 1000 bytes');

  // A finish without [DONE] before a clean end is complete.
  fake.reply({ stream: [ROLE, chunk({ content: 'Ok.' }), chunk({}, 'length')] });
  t.deepEqual((await collect(llm, request())).chunks.at(-1), { type: 'done', finishReason: 'length' });
});

test.serial('no first event in time, or a stall mid-stream, is a timeout', async (t) => {
  const llm = new OpenAiChat({ apiKey: KEY, baseUrl: fake.url, firstTokenTimeoutMs: 300, idleTimeoutMs: 300 });
  fake.reply({ stream: [': waiting\n\n'], then: 'stall' });
  const started = performance.now();
  const first = await failure(llm);
  const firstMs = performance.now() - started;
  t.is(first.code, 'timeout');
  t.is(first.message, 'openai: No first token within 300 ms');
  t.true(firstMs >= 290 && firstMs < 2000, `${firstMs.toFixed(0)} ms`);
  await fake.requests.at(-1)!.finished;
  t.true(fake.requests.at(-1)!.closedEarly, 'the stalled connection was closed');

  // Slow but steady (200 ms gaps) is fine; then a stall after the first text.
  fake.reply({ stream: [...textReply(['a', 'b', 'c'], 200).slice(0, -2), { pauseMs: 1000 }, chunk({}, 'stop'), DONE] });
  const seen: LlmChunk[] = [];
  const idle = await (async () => {
    try {
      for await (const c of llm.chat(request())) seen.push(c);
    } catch (e) {
      return e as ProviderError;
    }
    return null;
  })();
  t.deepEqual(seen.map((c) => (c.type === 'text' ? c.text : c.type)), ['a', 'b', 'c']);
  t.is(idle?.code, 'timeout');
  t.is(idle?.message, 'openai: No stream event for 300 ms');
});

test('connection refused is a network error', async (t) => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  const err = await failure(new OpenAiChat({ apiKey: KEY, baseUrl: `http://127.0.0.1:${port}/v1` }));
  t.is(err.code, 'network');
  t.regex(err.message, /ECONNREFUSED/);
});

test.serial('abort mid-stream ends the iteration quietly and the server sees the connection close', async (t) => {
  fake.reply({ stream: textReply(['First.', ' Second.', ' Third.', ' Fourth.'], 200) });
  const ctl = new AbortController();
  const seen: string[] = [];
  for await (const c of new OpenAiChat({ apiKey: KEY, baseUrl: fake.url }).chat(request({ signal: ctl.signal }))) {
    if (c.type === 'text') seen.push(c.text);
    if (seen.length === 2) ctl.abort();
  }
  t.deepEqual(seen, ['First.', ' Second.']);
  const got = fake.requests.at(-1)!;
  await got.finished;
  t.true(got.closedEarly, 'the server saw the client close before the reply ended');

  // Aborted while waiting for the first byte, too.
  fake.reply({ stream: [{ pauseMs: 2000 }, ...textReply(['late'])] });
  const ctl2 = new AbortController();
  setTimeout(() => ctl2.abort(), 100);
  const { chunks } = await collect(new OpenAiChat({ apiKey: KEY, baseUrl: fake.url }), request({ signal: ctl2.signal }));
  t.deepEqual(chunks, []);
  await fake.requests.at(-1)!.finished;
  t.true(fake.requests.at(-1)!.closedEarly);
});

test.serial('a server that ignores stream: true and answers one JSON completion is read whole', async (t) => {
  const completion = {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Sunny.', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }] }, finish_reason: 'tool_calls' }],
  };
  fake.reply({ status: 200, body: JSON.stringify(completion) });
  const { chunks } = await collect(new OpenAiChat({ apiKey: KEY, baseUrl: fake.url }), request());
  t.deepEqual(chunks, [
    { type: 'text', text: 'Sunny.' },
    { type: 'tool_call', call: { id: 'c1', name: 'get_weather', arguments: '{"city":"Rome"}' } },
    { type: 'done', finishReason: 'tool_calls' },
  ]);
});
