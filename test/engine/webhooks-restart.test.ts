/**
 * Webhook deliveries survive a SIGKILL of the real engine process: deliveries queued before the
 * kill (some already refused with 503 and waiting to retry, some cut mid-request by the kill) are
 * sent after the restart on the same SQLite file, signed, each once accepted, and the delivery
 * log shows the tries of both runs. A try the kill cut was never recorded, so it is made again
 * (at least once; the receiver sees the same delivery id twice).
 *
 * Events come from `PATCH /api/v1/agents/{id}` (`agent.updated`), which appends through the
 * engine's event log like any producer.
 */
import test from 'ava';
import Database from 'better-sqlite3';
import { CrashEngine } from '../helpers/crash-engine.js';
import { request, waitFor } from '../helpers/http.js';
import { eventReceiver } from '../helpers/webhook-server.js';

const secret = 'restart-secret-0123456789abcdef';
/** Retries every 300 ms; a cut request's lease (timeout + 5 s) ends 6 s after it started. */
const env = {
  AS_WEBHOOKS_RETRY_BASE_MS: '300',
  AS_WEBHOOKS_RETRY_MAX_MS: '300',
  AS_WEBHOOKS_MAX_ATTEMPTS: '50',
  AS_WEBHOOKS_TIMEOUT_MS: '1000',
};

interface DbDelivery {
  id: string;
  event_id: number;
  status: string;
  attempts: number;
}

let engine: CrashEngine | undefined;
test.after.always(() => {
  if (engine?.proc.child.exitCode === null) engine.proc.child.kill('SIGKILL');
});

test('deliveries queued before a SIGKILL are sent after the restart; the log keeps both runs’ tries', async (t) => {
  t.timeout(90_000);
  const r = await eventReceiver(secret);
  t.teardown(() => r.close());
  r.answer = () => 503;
  const e = (engine = await CrashEngine.create(env));
  const api = <T>(method: string, path: string, body?: unknown) => request<T>(e.base, method, path, { headers: e.headers, body });

  const hook = await api<{ id: string }>('POST', '/api/v1/webhooks', { url: r.url, eventTypes: ['agent.updated'], secret });
  t.is(hook.status, 201);
  const agents = await api<{ items: { id: string }[] }>('GET', '/api/v1/agents');
  const agentId = agents.body.items[0]!.id;
  const rename = async (name: string) => t.is((await api('PATCH', `/api/v1/agents/${agentId}`, { name })).status, 200);

  // Three refused (503) and waiting to retry, two cut mid-request by the kill.
  for (const n of ['one', 'two', 'three']) await rename(n);
  await waitFor(() => new Set(r.seen.map((s) => s.headers['x-agentstudio-delivery'])).size === 3, 10_000);
  r.answer = (req) => (new Set(r.seen.filter((s) => s.answered === 503).map((s) => s.raw)).has(req.raw) ? 503 : 'hang');
  for (const n of ['four', 'five']) await rename(n);
  await waitFor(() => r.seen.filter((s) => s.answered === 'hang').length >= 2, 10_000);

  const db = () => new Database(e.dbPath, { readonly: true, fileMustExist: true });
  await e.kill();
  const file = db();
  const before = file.prepare('SELECT id, event_id, status, attempts FROM webhook_deliveries ORDER BY event_id').all() as DbDelivery[];
  file.close();
  t.is(before.length, 5);
  t.true(before.every((d) => d.status === 'pending'), 'all five pending at the kill');
  t.true(before.slice(0, 3).every((d) => d.attempts >= 1), 'three tried and refused');
  t.deepEqual(before.slice(3).map((d) => d.attempts), [0, 0], 'two cut mid-request: their try was never recorded');

  r.answer = () => 200;
  const seenBefore = r.seen.length;
  const startMs = await e.start();
  const t0 = performance.now();
  await waitFor(() => new Set(r.accepted()).size === 5, 30_000, 50);
  const after = performance.now() - t0;
  t.log(`restart took ${startMs.toFixed(0)} ms; all 5 accepted ${after.toFixed(0)} ms after it was ready (the 2 cut ones were due when their lease ended)`);

  const list = await api<{ items: { id: string; eventId: number; status: string; attempts: number; attemptLog: { httpStatus: number | null }[] }[] }>(
    'GET',
    `/api/v1/webhooks/${hook.body.id}/deliveries?limit=100`,
  );
  const byEvent = list.body.items.sort((a, b) => a.eventId - b.eventId);
  t.deepEqual(byEvent.map((d) => d.status), Array(5).fill('succeeded'));
  for (const d of byEvent.slice(0, 3)) {
    t.is(d.attemptLog.at(-1)!.httpStatus, 200);
    t.true(d.attemptLog.slice(0, -1).every((a) => a.httpStatus === 503) && d.attemptLog.length >= 2, 'the refused tries of the first run are in the log');
  }
  for (const d of byEvent.slice(3)) t.deepEqual(d.attemptLog.map((a) => a.httpStatus), [200], 'the cut try is not in the log; the resend is');
  const resent = r.seen.slice(seenBefore);
  t.true(resent.every((s) => s.signatureOk), 'signed after the restart too');
  const cutIds = byEvent.slice(3).map((d) => d.id);
  t.true(cutIds.every((id) => r.seen.filter((s) => s.headers['x-agentstudio-delivery'] === id).length === 2), 'a cut try is made again with the same delivery id');
  t.is(await e.stop(), 0);
});
