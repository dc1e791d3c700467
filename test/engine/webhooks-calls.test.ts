/**
 * Webhooks never block call handling: with one receiver that answers nothing (holding the only
 * delivery slot for its whole timeout) and one that refuses connections, a real SIPp call is
 * answered as fast as one before any subscription existed, and completes. Once the silent
 * receiver answers, it gets the call's events in the order they happened.
 */
import test from 'ava';
import { request, waitFor } from '../helpers/http.js';
import { calls, endedCallWatcher, inboundSetup, scenario, sippCall, type InboundSetup } from '../helpers/inbound.js';
import { sippMissing } from '../helpers/sipp.js';
import { eventReceiver, type EventReceiver } from '../helpers/webhook-server.js';

const missing = sippMissing();
const sippTest = missing ? test.skip : test.serial;
if (missing) test('webhook call tests are skipped: ' + missing, (t) => t.pass());

/** One slot, a 3 s timeout: a call that waited on a webhook would be held that long. */
const webhooks = { timeoutMs: 3000, concurrency: 1, retryBaseMs: 200, retryMaxMs: 200, maxAttempts: 50 };
const secret = 'calls-secret-0123456789abcdef';
const callTypes = ['call.started', 'call.answered', 'call.ended'];

let s: InboundSetup;
let silent: EventReceiver;
test.before(async () => {
  if (missing) return;
  s = await inboundSetup({ webhooks });
  silent = await eventReceiver(secret);
});
test.after.always(async () => {
  await s?.close();
  await silent?.close();
});

const newCall = endedCallWatcher(() => s);

/** The caller's call: 1.5 s of RTP, then BYE. Answer latency from the call record. */
async function oneCall(t: { is(a: unknown, b: unknown, m?: string): void }): Promise<{ id: string; answerMs: number }> {
  const r = await sippCall(s, scenario('inbound-pcap.xml', { holdMs: 1500 }));
  t.is(r.code, 0, r.output + r.errors);
  const call = await newCall();
  t.is(call.status, 'completed');
  const full = await request<{ startedAt: string; answeredAt: string }>(s.base, 'GET', `/api/v1/calls/${call.id}`, { headers: s.tenant.headers });
  return { id: call.id, answerMs: Date.parse(full.body.answeredAt) - Date.parse(full.body.startedAt) };
}

sippTest('a silent and an unreachable receiver do not slow a call; the silent one later gets its events in order', async (t) => {
  t.timeout(60_000);
  const baseline = await oneCall(t);

  silent.answer = () => 'hang';
  const closed = await eventReceiver(secret);
  const deadUrl = closed.url;
  await closed.close();
  const post = (url: string) => request<{ id: string }>(s.base, 'POST', '/api/v1/webhooks', { headers: s.tenant.headers, body: { url, eventTypes: callTypes, secret } });
  const hung = await post(silent.url);
  const dead = await post(deadUrl);
  t.is(hung.status, 201);
  t.is(dead.status, 201);

  const hooked = await oneCall(t);
  t.log(`answer latency: ${baseline.answerMs} ms before any webhook, ${hooked.answerMs} ms with a silent and an unreachable receiver`);
  t.true(hooked.answerMs < webhooks.timeoutMs, 'the call did not wait for a webhook');
  t.true(silent.seen.length >= 1, 'the silent receiver was called during the call');
  t.is((await calls(s)).at(-1)!.id, hooked.id);

  silent.answer = () => 200;
  const order = await waitFor(() => {
    const types = silent.accepted().map((id) => silent.seen.find((x) => (JSON.parse(x.raw) as { id: number }).id === id)!);
    const mine = types.map((x) => JSON.parse(x.raw) as { type: string; callId: string }).filter((e) => e.callId === hooked.id);
    return mine.length === 3 ? mine.map((e) => e.type) : undefined;
  }, 30_000);
  t.deepEqual(order, callTypes, "the call's events reached the receiver in order");
  t.true(silent.seen.every((x) => x.signatureOk));

  const log = await request<{ items: { status: string; attemptLog: { error: string | null }[] }[] }>(s.base, 'GET', `/api/v1/webhooks/${dead.body.id}/deliveries`, {
    headers: s.tenant.headers,
  });
  t.is(log.body.items.length, 3);
  t.true(log.body.items.some((d) => d.attemptLog.some((a) => a.error === 'connection_refused: Connection refused')), 'the unreachable receiver was tried and refused');
  t.true(log.body.items.every((d) => d.status === 'pending'), 'and is retried');
});
