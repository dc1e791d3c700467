/**
 * The event-stream decoder, with fast-check: whatever the line ends (CRLF, LF, CR), comments,
 * multi-line data and byte boundaries of the reads (including inside a UTF-8 character and
 * between CR and LF), the events' data come out exactly as sent; and the tool call assembly gives
 * the same calls however the arguments were split into deltas.
 */
import test from 'ava';
import fc from 'fast-check';
import { SseDecoder } from '../../../engine/agents/providers/llm/sse.js';
import { ChatStreamReader } from '../../../engine/agents/providers/llm/openai-stream.js';
import type { LlmChunk } from '../../../engine/agents/providers/contracts.js';

const RUNS = 300;

/** A data value: one or more lines without line-end characters (may hold multibyte text). */
const dataLines = fc.array(
  fc.string({ unit: fc.oneof(fc.constantFrom('é', '👋', '{', '"', ':', ' '), fc.string({ minLength: 1, maxLength: 1, unit: 'grapheme-ascii' })), maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, '')),
  { minLength: 1, maxLength: 3 },
);
const eol = fc.constantFrom('\n', '\r\n', '\r');

/**
 * The stream text for these events, comments in between. One line end for the whole stream, as
 * servers do (a CR followed by an LF meant as a second line end would read as one CRLF).
 */
const streamOf = fc.tuple(eol, fc.array(fc.record({ lines: dataLines, comment: fc.boolean() }), { maxLength: 12 })).map(([end, events]) => {
  let text = '';
  for (const e of events) {
    if (e.comment) text += `: keep-alive${end}`;
    // One space after the colon is dropped, so a value starting with a space needs it.
    e.lines.forEach((l, i) => (text += `data:${i % 2 === 0 || l.startsWith(' ') ? ' ' : ''}${l}${end}`));
    text += end;
  }
  return { text, expected: events.map((e) => e.lines.join('\n')) };
});

test(`events come out as sent whatever the line ends and read boundaries (${RUNS} runs, up to 12 events, up to 20 cuts)`, (t) => {
  fc.assert(
    fc.property(streamOf, fc.array(fc.nat(), { maxLength: 20 }), ({ text, expected }, cuts) => {
      const bytes = Buffer.from(text, 'utf8');
      const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const decoder = new SseDecoder();
      const got: string[] = [];
      let prev = 0;
      for (const c of [...at, bytes.length]) {
        got.push(...decoder.push(bytes.subarray(prev, c)));
        prev = c;
      }
      got.push(...decoder.end());
      return JSON.stringify(got) === JSON.stringify(expected);
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test('an event without its final blank line is still delivered at the end; other fields are ignored', (t) => {
  const d = new SseDecoder();
  t.deepEqual(d.push('event: message\nid: 7\nretry: 10\ndata: {"a":1}\n\ndata: [DONE]'), ['{"a":1}']);
  t.deepEqual(d.end(), ['[DONE]']);
});

const argsText = fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 10 }), fc.integer()), { maxKeys: 4 }).map((o) => JSON.stringify(o));

test(`tool calls are assembled the same however their arguments are split (${RUNS} runs, 1-3 calls)`, (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(argsText, fc.array(fc.nat(), { maxLength: 6 })), { minLength: 1, maxLength: 3 }), (calls) => {
      const reader = new ChatStreamReader('test', (s) => s);
      const out: LlmChunk[] = [];
      const push = (delta: object, finish: string | null = null) =>
        out.push(...reader.read(JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] })));
      push({ role: 'assistant', content: null });
      calls.forEach(([args, cuts], index) => {
        push({ tool_calls: [{ index, id: `call_${index}x`, type: 'function', function: { name: `tool${index}`, arguments: '' } }] });
        const at = [...new Set(cuts.map((c) => c % (args.length + 1)))].sort((a, b) => a - b);
        let prev = 0;
        for (const c of [...at, args.length]) {
          push({ tool_calls: [{ index, function: { arguments: args.slice(prev, c) } }] });
          prev = c;
        }
      });
      push({}, 'tool_calls');
      out.push(...reader.read('[DONE]'));
      const expected: LlmChunk[] = calls.map(([args], i) => ({ type: 'tool_call', call: { id: `call_${i}x`, name: `tool${i}`, arguments: args } }));
      expected.push({ type: 'done', finishReason: 'tool_calls' });
      return JSON.stringify(out) === JSON.stringify(expected);
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test('servers without an index on tool call deltas (each call whole) are read too', (t) => {
  const reader = new ChatStreamReader('test', (s) => s);
  const read = (o: object) => reader.read(JSON.stringify(o));
  const out = [
    ...read({ choices: [{ index: 0, delta: { tool_calls: [{ id: 'a', type: 'function', function: { name: 'x', arguments: { n: 1 } } }] } }] }),
    ...read({ choices: [{ index: 0, delta: { tool_calls: [{ id: 'b', type: 'function', function: { name: 'y', arguments: '{}' } }] } }] }),
    ...read({ choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] }),
    ...reader.end(),
  ];
  t.deepEqual(out, [
    { type: 'tool_call', call: { id: 'a', name: 'x', arguments: '{"n":1}' } },
    { type: 'tool_call', call: { id: 'b', name: 'y', arguments: '{}' } },
    { type: 'done', finishReason: 'tool_calls' },
  ]);
});
