/**
 * Peer for the agents-list benchmark: a Fastify 5 server answering `GET /api/v1/agents` from the
 * engine's own SQLite file, opened read-only with better-sqlite3, the way a Fastify user would
 * write it:
 *
 * - the route's `onRequest` hook authenticates: `X-API-Key`, its SHA-256, one indexed lookup joined with
 *   the tenant (key not revoked, tenant active), and the key's scope for `agents:read`;
 * - a querystring schema validates and coerces `limit` (1–100, default 20) and `offset` (≥ 0,
 *   default 0) through Fastify's Ajv;
 * - two prepared statements, made once: the page (scoped to the key's tenant and mode, in the
 *   engine's order) and the count;
 * - a response schema, so fast-json-stringify serialises the page (the agent's `config` is free
 *   JSON, parsed from its column and written back by JSON.stringify).
 *
 * It does not rate-limit, send request ids or `Cache-Control`, accept Bearer tokens, filter by
 * status or time range, or touch `last_used_at` (read-only): see bench/README.md.
 *
 * Usage: node fastify-agents.js <port> <database file>
 */
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';

const port = Number(process.argv[2]);
const file = process.argv[3];
if (!file) throw new Error('usage: fastify-agents.js <port> <database file>');

const db = new Database(file, { readonly: true, fileMustExist: true });

interface KeyRow {
  tenant_id: string;
  mode: 'live' | 'test';
  scopes: string | null;
}
interface AgentRow {
  id: string;
  mode: string;
  name: string;
  description: string | null;
  status: string;
  config: string;
  created_at: string;
  updated_at: string;
}

const keyByHash = db.prepare<[string], KeyRow>(
  `SELECT k.tenant_id, k.mode, k.scopes FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
   WHERE k.key_hash = ? AND k.revoked_at IS NULL AND t.status = 'active'`,
);
const agentsPage = db.prepare<[string, string, number, number], AgentRow>(
  `SELECT id, mode, name, description, status, config, created_at, updated_at FROM agents
   WHERE tenant_id = ? AND mode = ? ORDER BY created_at, id LIMIT ? OFFSET ?`,
);
const agentsCount = db.prepare<[string, string], { n: number }>('SELECT COUNT(*) AS n FROM agents WHERE tenant_id = ? AND mode = ?');

const keyPattern = /^as_(live|test)_[0-9A-Za-z]{32}$/;

const agent = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    mode: { type: 'string' },
    name: { type: 'string' },
    description: { type: ['string', 'null'] },
    status: { type: 'string' },
    config: { type: 'object', additionalProperties: true },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const;

const app = Fastify({ logger: false });
app.decorateRequest('tenant', null);
declare module 'fastify' {
  interface FastifyRequest {
    tenant: { id: string; mode: string } | null;
  }
}

const deny = (reply: FastifyReply, status: number, code: string, message: string) =>
  reply.code(status).send({ error: { code, message, details: [] } });

/** The route's `onRequest` hook. */
const authenticate = async (req: FastifyRequest, reply: FastifyReply) => {
  const key = req.headers['x-api-key'];
  if (typeof key !== 'string' || !keyPattern.test(key.trim())) return deny(reply, 401, 'authentication_error', 'Invalid API key');
  const k = keyByHash.get(createHash('sha256').update(key.trim()).digest('hex'));
  if (!k) return deny(reply, 401, 'authentication_error', 'Invalid API key');
  const scopes = k.scopes ? (JSON.parse(k.scopes) as string[]) : null;
  if (scopes && !scopes.some((s) => s === '*' || s === 'agents:*' || s === 'agents:read')) {
    return deny(reply, 403, 'authorization_error', 'API key lacks scope agents:read');
  }
  req.tenant = { id: k.tenant_id, mode: k.mode };
};

app.get('/api/v1/health/live', () => ({ status: 'ok' }));

app.get<{ Querystring: { limit: number; offset: number } }>(
  '/api/v1/agents',
  {
    onRequest: authenticate,
    schema: {
      querystring: {
        type: 'object',
        properties: {
          limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
          offset: { type: 'integer', minimum: 0, default: 0 },
        },
      },
      response: {
        200: {
          type: 'object',
          properties: {
            items: { type: 'array', items: agent },
            total: { type: 'integer' },
            limit: { type: 'integer' },
            offset: { type: 'integer' },
          },
        },
      },
    },
  },
  (req) => {
    const { limit, offset } = req.query;
    const { id, mode } = req.tenant!;
    const items = agentsPage.all(id, mode, limit, offset).map((r) => ({
      id: r.id,
      mode: r.mode,
      name: r.name,
      description: r.description,
      status: r.status,
      config: JSON.parse(r.config) as unknown,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    }));
    return { items, total: agentsCount.get(id, mode)!.n, limit, offset };
  },
);

await app.listen({ host: '127.0.0.1', port });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
