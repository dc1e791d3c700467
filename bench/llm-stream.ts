/**
 * How fast the chat completion stream is read: chunks per second through the SSE decoder and the
 * chunk reader (`engine/agents/providers/llm/sse.ts`, `openai-stream.ts`), and end to end through
 * `OpenAiChat` over loopback HTTP. The peer is the naive reader many clients ship: split the
 * text on blank lines, `JSON.parse` each `data:` line, take `delta.content` (no CRLF, comments,
 * multi-line data, UTF-8 split across reads or tool call assembly). Rounds alternate (ABBA).
 *
 *   npm run bench -- llm-stream [rounds=6] [chunks=50000]
 */
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { keyValues } from './lib/args.js';
import { fmt, median, table } from './lib/stats.js';
import { OpenAiChat } from '../engine/agents/providers/llm/openai-chat.js';
import { ChatStreamReader } from '../engine/agents/providers/llm/openai-stream.js';
import { SseDecoder } from '../engine/agents/providers/llm/sse.js';
import { configureOutbound } from '../lib/outbound-guard.js';

// The stand-in server listens on loopback, which the outbound guard refuses by default.
configureOutbound({ allowPrivateNetworks: true });

const BASE = { id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1733300000, model: 'gpt-4o-mini', system_fingerprint: 'fp_bench' };
const WORDS = ['Sure', ',', ' I', ' can', ' help', ' with', ' that', '.', ' Your', ' order', ' ships', ' on', ' Monday', '!'];

/** A stream of `n` text chunks as OpenAI frames them, one Buffer per event (one network read each). */
function stream(n: number): Buffer[] {
  const frame = (delta: object, finish: string | null = null) =>
    Buffer.from(`data: ${JSON.stringify({ ...BASE, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`);
  const out = [frame({ role: 'assistant', content: '', refusal: null })];
  for (let i = 0; i < n; i++) out.push(frame({ content: WORDS[i % WORDS.length] }));
  out.push(frame({}, 'stop'), Buffer.from('data: [DONE]\n\n'));
  return out;
}

function ours(reads: Buffer[]): number {
  const decoder = new SseDecoder();
  const reader = new ChatStreamReader('bench', (s) => s);
  let texts = 0;
  for (const r of reads) for (const data of decoder.push(r)) for (const c of reader.read(data)) if (c.type === 'text') texts++;
  return texts;
}

function naive(reads: Buffer[]): number {
  let buf = '';
  let texts = 0;
  for (const r of reads) {
    buf += r.toString('utf8');
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const line = buf.slice(0, end);
      buf = buf.slice(end + 2);
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      const content = (JSON.parse(line.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content;
      if (content) texts++;
    }
  }
  return texts;
}

/** A loopback server answering every POST with the whole stream, as fast as the socket takes it. */
async function server(reads: Buffer[]): Promise<{ url: string; close(): void }> {
  const body = Buffer.concat(reads);
  const s = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(body));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/v1`, close: () => s.close() };
}

async function endToEndOurs(url: string): Promise<number> {
  const llm = new OpenAiChat({ apiKey: null, baseUrl: url, maxResponseBytes: 2 ** 30 });
  let texts = 0;
  for await (const c of llm.chat({ model: 'm', messages: [{ role: 'user', content: 'hi' }], tools: [], signal: new AbortController().signal })) {
    if (c.type === 'text') texts++;
  }
  return texts;
}

async function endToEndNaive(url: string): Promise<number> {
  const res = await fetch(`${url}/chat/completions`, { method: 'POST', body: '{}' });
  const reads: Buffer[] = [];
  for await (const piece of res.body!) reads.push(Buffer.from(piece));
  return naive(reads);
}

async function timed(n: number, fn: () => number | Promise<number>): Promise<number> {
  const t0 = performance.now();
  const texts = await fn();
  if (texts !== n) throw new Error(`read ${texts} text chunks, expected ${n}`);
  return (n / (performance.now() - t0)) * 1000;
}

export async function run(args: string[]): Promise<void> {
  const a = keyValues(args);
  const rounds = Number(a.rounds ?? 6);
  const n = Number(a.chunks ?? 50_000);
  const load0 = os.loadavg();
  const reads = stream(n);
  const srv = await server(reads);
  const rates: Record<string, number[]> = { 'parse ours': [], 'parse naive': [], 'http ours': [], 'http naive': [] };
  try {
    ours(reads);
    naive(reads); // warm-up
    for (let i = 0; i < rounds; i++) {
      const flip = i % 4 === 1 || i % 4 === 2;
      for (const who of flip ? ['naive', 'ours'] : ['ours', 'naive']) {
        rates[`parse ${who}`]!.push(await timed(n, () => (who === 'ours' ? ours(reads) : naive(reads))));
        rates[`http ${who}`]!.push(await timed(n, () => (who === 'ours' ? endToEndOurs(srv.url) : endToEndNaive(srv.url))));
      }
    }
  } finally {
    srv.close();
  }
  table(Object.entries(rates).map(([name, xs]) => ({ name, 'median chunks/s': Math.round(median(xs)), rounds: xs.map((x) => Math.round(x)).join(' ') })));
  const ratio = (k: string) => fmt(median(rates[`${k} ours`]!) / median(rates[`${k} naive`]!));
  process.stdout.write(`${n} text chunks per run; ours / naive: parse ${ratio('parse')}, over HTTP ${ratio('http')}; load ${load0.map((l) => fmt(l)).join(' ')}\n`);
}
