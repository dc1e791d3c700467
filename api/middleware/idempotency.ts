/**
 * `Idempotency-Key` on create routes (`idempotent: true`), after the IETF draft
 * "The Idempotency-Key HTTP Header Field" (draft-ietf-httpapi-idempotency-key-header):
 *
 * - The first request with a key runs; a successful (2xx) result is stored for 24 hours under
 *   (tenant, caller, key), where the caller is the API key or the user.
 * - A repeat with the same key, method, path and body gets the stored status and body without the
 *   handler running again, with `Idempotent-Replayed: true`.
 * - The same key with a different request is a client error: 422 `validation_error` on the
 *   `Idempotency-Key` field (the draft's 422 for "key reused with a different payload").
 * - A repeat while the first is still running gets 409 `conflict` (the draft's 409).
 * - Errors are not stored: nothing was created, so a retry runs again.
 * - Bodies are compared as JSON, so key order and whitespace do not matter.
 *
 * A create response can hold a secret shown only once (a new API key). So a stored response is
 * encrypted (AES-256-GCM) under a key derived from the Idempotency-Key itself, and the table keeps
 * only a hash of the Idempotency-Key: a copy of the database does not yield the secret unless the
 * Idempotency-Key can be guessed. Use random keys (UUIDs), as the draft recommends.
 *
 * Replays check the caller's rights again first: a result is never handed to a caller who could
 * no longer make the request.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { Store } from '../../engine/store/store.js';
import { then } from '../../lib/maybe.js';
import type { Middleware, MiddlewareContext, Result } from '../http/adapter.js';
import { authorize } from '../http/authorize.js';
import { AppError } from '../http/errors.js';

/** How long a key is remembered (the window in which clients retry). */
const IDEMPOTENCY_TTL_MS = 24 * 3600_000;
/** Expired keys are deleted at most this often, on a request that stores a result. */
const PURGE_EVERY_MS = 600_000;
/** The longest key accepted; the draft leaves it to the server. Matches the OpenAPI parameter. */
const MAX_KEY_LENGTH = 255;

const HEADER = 'idempotency-key';
const FIELD = 'Idempotency-Key';

interface IdempotencyOptions {
  /** Clock, in ms (tests). */
  now?: () => number;
}

/** The `Idempotency-Key` middleware over the idempotency_keys table (see the file comment). */
export function idempotency(store: Store, opts: IdempotencyOptions = {}): Middleware {
  const now = opts.now ?? Date.now;
  const inFlight = new Set<string>();
  let lastPurge = 0;

  return (ctx, next) => {
    const given = ctx.req.headers[HEADER];
    if (!ctx.route.idempotent || given === undefined || !ctx.auth || ctx.route.auth === false) return next();
    if (given.length === 0 || given.length > MAX_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(given)) {
      throw new AppError('validation_error', 'Invalid Idempotency-Key', [
        { field: FIELD, message: `must be 1 to ${MAX_KEY_LENGTH} visible ASCII characters` },
      ]);
    }
    authorize(ctx.auth, ctx.route.auth);
    const tenantId = ctx.auth.tenantId;
    const principal = ctx.auth.apiKeyId ?? ctx.auth.userId ?? '';
    const keyHash = createHash('sha256').update(given).digest('hex');
    const fingerprint = requestHash(ctx);
    const t = now();

    const stored = store.idempotencyKeys.get(tenantId, principal, keyHash);
    if (stored && Date.parse(stored.createdAt) > t - IDEMPOTENCY_TTL_MS) {
      if (stored.requestHash !== fingerprint || stored.method !== ctx.req.method || stored.path !== ctx.req.url) {
        throw new AppError('validation_error', 'Idempotency-Key was already used with a different request', [
          { field: FIELD, message: 'reuse the key only to retry the identical request' },
        ]);
      }
      const { body, headers } = open(stored.response, given, tenantId, principal);
      ctx.log.debug({ route: ctx.route.operationId }, 'idempotent replay');
      return { status: stored.status, body, headers: { ...headers, 'idempotent-replayed': 'true' } };
    }

    const slot = `${tenantId}|${principal}|${keyHash}`;
    if (inFlight.has(slot)) {
      throw new AppError('conflict', 'A request with this Idempotency-Key is still in progress');
    }
    inFlight.add(slot);
    const release = () => inFlight.delete(slot);
    let out;
    try {
      out = then(next(), (result: Result): Result => {
        if (result.status >= 200 && result.status < 300 && !Buffer.isBuffer(result.body)) {
          store.idempotencyKeys.save({
            tenantId,
            principal,
            key: keyHash,
            method: ctx.req.method,
            path: ctx.req.url,
            requestHash: fingerprint,
            status: result.status,
            response: seal({ body: result.body, headers: result.headers }, given, tenantId, principal),
          });
          if (t - lastPurge >= PURGE_EVERY_MS) {
            lastPurge = t;
            store.idempotencyKeys.purgeOlderThan(new Date(t - IDEMPOTENCY_TTL_MS).toISOString());
          }
        }
        return result;
      });
    } catch (e) {
      release();
      throw e;
    }
    if (out instanceof Promise) return out.finally(release);
    release();
    return out;
  };
}

/** The request's identity beyond its key: the body as canonical JSON (or raw bytes if not JSON). */
function requestHash(ctx: MiddlewareContext): string {
  const h = createHash('sha256');
  const raw = ctx.rawBody;
  if (raw && raw.length) {
    try {
      h.update(canonical(JSON.parse(raw.toString('utf8'))));
    } catch {
      h.update(raw);
    }
  }
  return h.digest('hex');
}

/** JSON with object keys sorted, so `{"a":1,"b":2}` and `{ "b": 2, "a": 1 }` are the same request. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function cipherKey(idempotencyKey: string, tenantId: string, principal: string): Buffer {
  return Buffer.from(hkdfSync('sha256', idempotencyKey, `${tenantId}|${principal}`, 'agent-studio idempotency v1', 32));
}

/** base64url(iv | tag | ciphertext) of the JSON. */
function seal(value: { body: unknown; headers: Record<string, string> }, k: string, tenantId: string, principal: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', cipherKey(k, tenantId, principal), iv);
  const data = Buffer.concat([c.update(JSON.stringify(value), 'utf8'), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), data]).toString('base64url');
}

function open(sealed: string, k: string, tenantId: string, principal: string): { body: unknown; headers: Record<string, string> } {
  const buf = Buffer.from(sealed, 'base64url');
  const d = createDecipheriv('aes-256-gcm', cipherKey(k, tenantId, principal), buf.subarray(0, 12));
  d.setAuthTag(buf.subarray(12, 28));
  const text = Buffer.concat([d.update(buf.subarray(28)), d.final()]).toString('utf8');
  return JSON.parse(text) as { body: unknown; headers: Record<string, string> };
}
