/**
 * Property: for every operation of the `/openapi.json` the engine serves, any request (random
 * and malformed path parameters, query strings, headers, content types and bodies, signed by a
 * tenant's API key or JWT, forged, or unsigned) gets a status that operation documents, never a
 * 500, with the exact error envelope on errors; the engine process stays alive; and nothing of
 * another tenant changes (its rows in the SQLite file, before and after).
 *
 * A real engine process: an uncaught throw anywhere ends it, which no in-process check proves.
 * `FUZZ_SEED` replays a run; `FUZZ_RUNS` changes the cases per operation.
 */
import test from 'ava';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { errorEnvelopeSchema, errorTable } from '../../api/http/errors.js';
import type { EngineProcess } from '../helpers/engine-process.js';
import { startFuzzEngine } from '../helpers/fuzz-engine.js';
import { request } from '../helpers/http.js';
import { ANY_SLOT, badEscapes, bodyBytes, hostileKinds, operations, queryString, segment, type OpenApiDoc, type Op } from '../helpers/openapi-arbitraries.js';

const RUNS_PER_OP = Number(process.env.FUZZ_RUNS ?? 40);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

interface World {
  engine: EngineProcess;
  base: string;
  dbPath: string;
  doc: OpenApiDoc;
  /** Credentials by name, as request headers. */
  auth: Record<string, Record<string, string>>;
  /** Ids of tenant A (the caller's) and B (another tenant), for path parameters. */
  idsA: string[];
  idsB: string[];
  tenantB: string;
  /** Bodies known to be valid, by operation (what a schema cannot express, such as a graph's rules). */
  examples: Record<string, unknown[]>;
  snapshotB: () => string;
}

let w: World;

test.before(async () => {
  const f = await startFuzzEngine('fuzz-http');
  const { engine, base, dbPath, call, bearer, tenantB } = f;

  // Tenant B's objects: the rows that must not change.
  const idsB = await seedObjects(call, f.ownerB);

  // Tenant A's callers: a live admin key (a high limit, so the cases are not all 429), a test key,
  // a member's JWT (the default limit: some of its cases are 429, documented too).
  const keyA = f.adminKey(['--rate-limit', '1000000']);
  const testKeyA = f.adminKey(['--mode', 'test', '--rate-limit', '1000000']);
  const member = { email: 'member@a.example.test', password: 'fuzz member password' };
  await call('POST', '/api/v1/users', f.owner.headers, { ...member, role: 'member' });
  const jwtA = await bearer(member.email, member.password);
  const idsA = await seedObjects(call, { 'x-api-key': keyA });
  const [head, payload] = (jwtA.authorization ?? '').slice(7).split('.');
  const auth = {
    none: {},
    keyA: { 'x-api-key': keyA },
    testKeyA: { 'x-api-key': testKeyA },
    jwtA,
    badKey: { 'x-api-key': `${keyA.slice(0, -4)}XXXX` },
    garbageKey: { 'x-api-key': 'as_live_\u00ff%ZZ' },
    // The member's claims, unsigned (alg none) and re-signed with another secret.
    forgedNone: { authorization: `Bearer ${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.` },
    forgedSig: { authorization: `Bearer ${head}.${payload}.${Buffer.alloc(32, 7).toString('base64url')}` },
    garbageBearer: { authorization: 'Bearer a.b.c' },
    basic: { authorization: 'Basic Zm9vOmJhcg==' },
  };
  const doc = (await request<OpenApiDoc>(base, 'GET', '/openapi.json')).body;
  const [agentA, toolA] = idsA;
  const [agentB, toolB, workflowB, trunkB] = idsB;
  const graph = {
    nodes: [{ id: 'start', kind: 'start' }, { id: 'tool', kind: 'tool', toolId: toolA, arguments: { a: ANY_SLOT } }, { id: 'bye', kind: 'hangup' }],
    edges: [{ from: 'start', to: 'tool' }, { from: 'tool', to: 'bye' }],
  };
  const toolBody = { name: 'fuzzed', parameters: { type: 'object', properties: { a: ANY_SLOT } }, action: { type: 'builtin', name: 'hangup' } };
  const examples: Record<string, unknown[]> = {
    createWorkflow: [{ name: 'wf', graph }, { name: 'foreign', graph: JSON.parse(JSON.stringify(graph).replace(toolA!, toolB!)) as unknown }],
    updateWorkflow: [{ graph }, { name: 'renamed' }],
    createTool: [toolBody, { ...toolBody, parameters: { type: 'object', properties: {}, required: [], enum: [ANY_SLOT] } }],
    updateTool: [{ parameters: toolBody.parameters }],
    testTool: [{ arguments: { a: ANY_SLOT } }],
    // Another tenant's ids where this tenant's belong: refused, never linked (checked at the end).
    createAgent: [{ name: 'agent', config: { prompt: { system: 'x' }, toolIds: [toolA] } }, { name: 'foreign', config: { prompt: { system: 'x' }, toolIds: [toolB], workflowId: workflowB } }],
    updateAgent: [{ name: 'renamed' }, { config: { workflowId: workflowB } }],
    createPhoneNumber: [{ number: 'fuzz', agentId: agentA }, { number: 'foreign', agentId: agentB, trunkId: trunkB }],
    updatePhoneNumber: [{ agentId: agentB }, { trunkId: trunkB }],
    createProvider: [{ name: 'p', kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'sk-x' }, { name: 'oa', kind: 'deepgram' }],
    updateProvider: [{ apiKey: null }, { kind: 'deepgram' }, { name: 'renamed' }],
    sayOnCall: [{ text: 'hello', interrupt: true }],
    sendCallDtmf: [{ digits: '123#' }],
    transferCall: [{ target: '+15551234567' }, { target: 'sip:desk@127.0.0.1' }],
  };
  w = { engine, base, dbPath, doc, auth, idsA, idsB, tenantB, examples, snapshotB: f.snapshotB };
});

test.after.always(() => w?.engine.child.kill('SIGKILL'));

/** One object of each kind, through the API; returns their ids. */
async function seedObjects(
  call: (m: string, p: string, h: Record<string, string>, b?: unknown) => Promise<Record<string, unknown>>,
  h: Record<string, string>,
): Promise<string[]> {
  const n = Math.floor(Math.random() * 1e6);
  const provider = await call('POST', '/api/v1/providers', h, { name: 'oa', kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKey: `sk-fuzz-${n}` });
  const agent = await call('POST', '/api/v1/agents', h, { name: 'agent', config: { prompt: { system: 'x' }, llm: { provider: 'oa', model: 'm' } } });
  const tool = await call('POST', '/api/v1/tools', h, { name: `t${n}`, action: { type: 'builtin', name: 'hangup' } });
  const workflow = await call('POST', '/api/v1/workflows', h, {
    name: 'wf',
    graph: { nodes: [{ id: 'start', kind: 'start' }, { id: 'bye', kind: 'hangup' }], edges: [{ from: 'start', to: 'bye' }] },
  });
  const trunk = await call('POST', '/api/v1/sip-trunks', h, { name: 'trunk', inbound: { allowlist: ['127.0.0.1/32'] } });
  const number = await call('POST', '/api/v1/phone-numbers', h, { number: `+1555${String(n).padStart(7, '0')}`, agentId: agent.id, trunkId: trunk.id });
  return [agent, tool, workflow, trunk, number, provider].map((o) => String(o.id));
}

interface Case {
  auth: string;
  path: string;
  query: string;
  contentType: string | null;
  headers: Record<string, string>;
  body: { kind: string; bytes: Buffer } | null;
}

function caseArb(op: Op): fc.Arbitrary<Case> {
  const pool = [...w.idsA, ...w.idsB, '1', '0'];
  const pathArb = op.pathParams.reduce<fc.Arbitrary<string>>(
    (acc, name) => acc.chain((p) => segment(pool).map((s) => p.replace(`{${name}}`, s))),
    fc.constant(op.path),
  );
  const hasBody = op.method !== 'GET' && op.method !== 'DELETE';
  return fc.record({
    // About two cases in three signed by a valid caller of tenant A.
    auth: fc.oneof(
      { arbitrary: fc.constant('keyA'), weight: 8 },
      { arbitrary: fc.constantFrom('testKeyA', 'jwtA'), weight: 4 },
      { arbitrary: fc.constantFrom(...Object.keys(w.auth)), weight: 5 },
    ),
    path: pathArb,
    query: queryString(w.doc, op.queryParams),
    contentType: fc.oneof(
      { arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8'), weight: 6 },
      { arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/problem+json', 'application/json; charset=latin1', null), weight: 1 },
    ),
    headers: fc.dictionary(
      fc.constantFrom('x-request-id', 'idempotency-key', 'last-event-id', 'accept', 'x-fuzz', 'origin', 'x-forwarded-for'),
      fc.oneof(fc.string({ maxLength: 300, unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }), fc.constantFrom(...badEscapes), fc.constant('9'.repeat(300))),
      { maxKeys: 3 },
    ),
    body: hasBody ? (op.body ? bodyBytes(w.doc, op.body, w.examples[op.id]) : fc.option(fc.constant({ kind: 'unexpected', bytes: Buffer.from('{"a":1}') }))) : fc.constant(null),
  });
}

/** Sends the case; returns status, content type and parsed JSON (or text). */
async function send(op: Op, c: Case): Promise<{ status: number; type: string; body: unknown }> {
  const headers: Record<string, string> = { ...w.auth[c.auth], ...c.headers };
  if (c.contentType) headers['content-type'] = c.contentType;
  const res = await fetch(`${w.base}${c.path}${c.query}`, {
    method: op.method,
    headers,
    body: c.body?.bytes,
    signal: AbortSignal.timeout(15_000),
  });
  const type = res.headers.get('content-type') ?? '';
  if (type.startsWith('text/event-stream')) {
    await res.body?.cancel();
    return { status: res.status, type, body: null };
  }
  const text = await res.text();
  let body: unknown = text;
  if (type.includes('json') && text) body = JSON.parse(text);
  return { status: res.status, type, body };
}

const describe = (op: Op, c: Case) =>
  `${op.method} ${c.path}${c.query} auth=${c.auth} ct=${c.contentType} headers=${JSON.stringify(c.headers)} body(${c.body?.kind})=${c.body?.bytes.subarray(0, 200).toString('latin1')}`;

test.serial('every operation: a documented status (never 500), the exact envelope, a live process, another tenant untouched', async (t) => {
  const ops = operations(w.doc);
  t.log(`seed ${SEED} (replay with FUZZ_SEED=${SEED}); ${ops.length} operations x ${RUNS_PER_OP} cases`);
  const before = w.snapshotB();
  const statuses = new Map<string, Map<number, number>>();
  const started = Date.now();
  for (const [i, op] of ops.entries()) {
    const seen = new Map<number, number>();
    statuses.set(op.id, seen);
    await fc.assert(
      fc.asyncProperty(caseArb(op), async (c) => {
        let got;
        try {
          got = await send(op, c);
        } catch (e) {
          throw new Error(`no answer (${(e as Error).message}; engine exit ${String(w.engine.child.exitCode)}) to ${describe(op, c)}\n${w.engine.stderr().slice(-2000)}`);
        }
        seen.set(got.status, (seen.get(got.status) ?? 0) + 1);
        // What the fuzz creates joins the pool of the next operations' path parameters.
        const made = (got.body as { id?: unknown } | null)?.id;
        if (got.status === 201 && typeof made === 'string' && op.id !== 'createApiKey') w.idsA.push(made);
        const label = `${got.status} ${JSON.stringify(got.body).slice(0, 300)} for ${describe(op, c)}`;
        if (!op.statuses.has(got.status)) throw new Error(`undocumented status: ${label}`);
        if (got.status === 500) throw new Error(`internal error: ${label}`);
        if (got.status < 300 && c.body && hostileKinds.has(c.body.kind)) throw new Error(`hostile body accepted: ${label}`);
        if (got.status >= 400) {
          if (got.type !== 'application/json; charset=utf-8') throw new Error(`error not JSON: ${label}`);
          const env = errorEnvelopeSchema.safeParse(got.body);
          if (!env.success) throw new Error(`not the error envelope: ${label}`);
          if (errorTable[env.data.error.code].status !== got.status) throw new Error(`code and status disagree: ${label}`);
        }
        if (w.engine.child.exitCode !== null) throw new Error(`engine exited ${w.engine.child.exitCode} after ${describe(op, c)}`);
      }),
      { numRuns: RUNS_PER_OP, seed: SEED + i, endOnFailure: true, includeErrorInReport: true },
    );
  }
  const seconds = (Date.now() - started) / 1000;
  const total = ops.length * RUNS_PER_OP;
  t.log(`${total} requests in ${seconds.toFixed(1)} s (${(total / seconds).toFixed(0)}/s)`);
  t.log([...statuses].map(([id, s]) => `${id}: ${[...s].sort().map(([k, v]) => `${k}x${v}`).join(' ')}`).join('\n'));
  t.is((await request(w.base, 'GET', '/api/v1/health/live')).status, 200);
  t.is(w.engine.child.exitCode, null);
  t.is(w.snapshotB(), before, 'tenant B changed');
  const leaks = w.idsB.filter((id) => rowsOfOthers().includes(id));
  t.deepEqual(leaks, [], "another tenant's ids are referenced by rows outside it");
});

/** Every row of every tenant but B (with a tenant_id column), as text. */
function rowsOfOthers(): string {
  const db = new Database(w.dbPath, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
    let text = '';
    for (const { name } of tables) {
      const cols = db.prepare(`PRAGMA table_info("${name}")`).all() as { name: string }[];
      if (cols.some((c) => c.name === 'tenant_id')) text += JSON.stringify(db.prepare(`SELECT * FROM "${name}" WHERE tenant_id != ?`).all(w.tenantB));
    }
    return text;
  } finally {
    db.close();
  }
}

test.serial('any method on any path: 404 or 405 in the envelope, never 500', async (t) => {
  const methods = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'FOO');
  const p = fc.array(fc.oneof(fc.constantFrom('api', 'v1', 'agents', 'ws', 'events', ...badEscapes), segment([])), { maxLength: 5 }).map((s) => `/${s.join('/')}`);
  let n = 0;
  await fc.assert(
    fc.asyncProperty(methods, p, async (method, url) => {
      n++;
      let res: Response;
      try {
        res = await fetch(`${w.base}${url}`, { method, headers: w.auth.keyA, signal: AbortSignal.timeout(15_000) });
      } catch (e) {
        // uWS's parser knows the standard methods only, and closes the connection on any other.
        if (method === 'FOO' && w.engine.child.exitCode === null) return;
        throw e;
      }
      const text = await res.text();
      if (res.status >= 500) throw new Error(`${res.status} for ${method} ${url}: ${text}`);
      if (method === 'HEAD') {
        // No body in an answer to HEAD (RFC 9110 §9.3.2); the headers still say what it would be.
        if (res.status >= 400 && res.headers.get('content-type') !== 'application/json; charset=utf-8') throw new Error(`HEAD ${url}: ${res.status}`);
        return;
      }
      if (res.status >= 400 && res.status !== 400) {
        const env = errorEnvelopeSchema.safeParse(JSON.parse(text));
        if (!env.success) throw new Error(`not the envelope for ${method} ${url}: ${text}`);
      }
    }),
    { numRuns: 300, seed: SEED, includeErrorInReport: true },
  );
  t.log(`${n} requests`);
  t.is(w.engine.child.exitCode, null);
});
