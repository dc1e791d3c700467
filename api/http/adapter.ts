/**
 * The one uWS adapter: it mounts route definitions on a uWS app and handles, for every route,
 * aborts, body limits, JSON parsing, validation, authentication, middlewares, authorization,
 * error mapping, `cork()` and headers. No handler formats its own error or touches uWS.
 *
 * Order for one request: authenticate -> middlewares (rate limit, idempotency) -> authorize ->
 * validate params, query and body -> handler.
 */
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { z } from 'zod';
import type { Logger } from '../../config/logger.js';
import { then, type Maybe } from '../../lib/maybe.js';
import { routeErrors } from '../openapi.js';
import { authorize } from './authorize.js';
import { AppError, toErrorResponse, zodDetails } from './errors.js';
import { parseClientJson } from './json-input.js';
import { Reply, type AuthContext, type HandlerContext, type RequestInfo, type RouteDef } from './route.js';
import { FileBody, StreamBody, UwsResponseStream } from './stream.js';

/** The outcome of a request, before it is written. */
export interface Result {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

export interface MiddlewareContext {
  route: RouteDef;
  req: RequestInfo;
  auth: AuthContext | null;
  /** Headers added to whatever response goes out, success or error (e.g. X-RateLimit-*). */
  responseHeaders: Record<string, string>;
  /** The request body as received (null without one), e.g. to fingerprint a request. */
  rawBody: Buffer | null;
  log: Logger;
}

/**
 * Runs around the handler, after authentication and before authorization, validation and the
 * handler. Throw an AppError to refuse. Synchronous when it can be: `next()` returns a value when
 * the rest of the chain did not wait, and a middleware that does not wait either keeps the
 * request on the adapter's synchronous path.
 */
export type Middleware = (ctx: MiddlewareContext, next: () => Maybe<Result>) => Maybe<Result>;

/**
 * Establishes who is calling, or throws `authentication_error`; synchronous when it can be (API
 * keys, cached tokens). Whether the caller may use the route is `authorize`'s business.
 */
export type Authenticator = (req: RequestInfo) => Maybe<AuthContext>;

export interface AdapterOptions {
  log: Logger;
  maxBodyBytes: number;
  /** Required by any route with `auth` set; without it such routes answer 401. */
  authenticate?: Authenticator;
  middlewares?: Middleware[];
  /**
   * Check handler results against the route's response schema, and errors against the codes the
   * route declares (its OpenAPI responses): a mismatch answers 500 and is logged (tests, development).
   */
  validateResponses?: boolean;
}

const reasons: Record<number, string> = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 206: 'Partial Content', 302: 'Found', 304: 'Not Modified',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type',
  422: 'Unprocessable Entity', 429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented',
  503: 'Service Unavailable',
};

const statusLine = (status: number) => `${status} ${reasons[status] ?? ''}`.trimEnd();
const statusLines = new Map(Object.keys(reasons).map((k) => [Number(k), statusLine(Number(k))]));

const paramNames = (path: string) => [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);

/** `/a/:id/b` -> /^\/a\/[^/]+\/b$/, to answer 405 with the methods a path does have. */
const pathRegex = (path: string) =>
  new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+')}/?$`);

/** Mounts `routes` on `app`, plus the catch-all that answers 404/405 in the error envelope. */
export function mountRoutes(app: TemplatedApp, routes: readonly RouteDef[], opts: AdapterOptions): void {
  const seen = new Set<string>();
  for (const route of routes) {
    const key = `${route.method} ${route.path}`;
    if (seen.has(key)) throw new Error(`route declared twice: ${key}`);
    seen.add(key);
    const names = paramNames(route.path);
    const declaredErrors = opts.validateResponses ? new Set<string>(routeErrors(route)) : undefined;
    const register = { get: app.get, post: app.post, put: app.put, patch: app.patch, delete: app.del }[route.method];
    register.call(app, route.path, (res: HttpResponse, req: HttpRequest) => {
      // Raw segments: decoding can throw (a malformed escape), so it happens inside the request's
      // error boundary (`call`), never here in the uWS callback.
      const params: Record<string, string> = {};
      names.forEach((n, i) => (params[n] = req.getParameter(i) ?? ''));
      guard(res, opts.log, () => handle(res, req, route, params, opts, declaredErrors));
    });
  }
  const patterns = routes.map((r) => ({ re: pathRegex(r.path), method: r.method }));
  app.any('/*', (res, req) => guard(res, opts.log, () => {
    const info = new IncomingRequest(res, req);
    const url = info.url;
    const allowed = [...new Set(patterns.filter((p) => p.re.test(url)).map((p) => p.method.toUpperCase()))];
    const err = allowed.length
      ? new AppError('method_not_allowed', `${info.method} is not allowed on ${url}`, [], { allow: allowed.join(', ') })
      : new AppError('not_found', `No route for ${info.method} ${url}`);
    const out = toErrorResponse(err);
    write(res, { aborted: false }, { status: out.status, body: out.body, headers: out.headers }, info.requestId);
  }));
}

/**
 * The last line of defence around a uWS callback: an exception escaping one would end the
 * process (uWS calls back from native code). Whatever escapes `handle`'s own boundary is logged
 * and answered with `internal_error`, if the response is still open.
 */
function guard(res: HttpResponse, log: Logger, run: () => void): void {
  try {
    run();
  } catch (err) {
    log.error({ err }, 'request handler threw outside its error boundary');
    try {
      respondWithError(res, err, `${idPrefix}-${(++idCounter).toString(36)}`);
    } catch {
      // The response was already written or aborted: nothing more to say to this client.
    }
  }
}

/**
 * Path segments as uWS gives them are still percent-encoded. A malformed escape (`%`, `%ZZ`,
 * `%C0%AF`) names no resource, so it is `not_found`, like any other path parameter that fails
 * its schema.
 */
function decodeParams(raw: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in raw) {
    const v = raw[k]!;
    if (!v.includes('%')) {
      out[k] = v;
      continue;
    }
    try {
      out[k] = decodeURIComponent(v);
    } catch {
      throw new AppError('not_found');
    }
  }
  return out;
}

/**
 * A client's `X-Request-Id` is echoed in the response and written in every log line of the
 * request, so only visible ASCII (and spaces) up to 128 characters is taken; anything else gets
 * an id of ours.
 */
export const isRequestId = (v: string): boolean => v.length > 0 && v.length <= 128 && /^[\x20-\x7e]+$/.test(v);

/** Request ids: a per-process prefix and a counter (cheaper than a UUID per request). */
const idPrefix = randomUUID().slice(0, 8);
let idCounter = 0;

/**
 * Request facts, copied from uWS before any await. A class, not an object literal with getters:
 * V8 gives each literal-with-getter its own hidden class, allocated in old space, and at tens of
 * thousands of requests a second that alone forces a mark-compact every few hundred ms.
 */
class IncomingRequest implements RequestInfo {
  readonly method: string;
  readonly url: string;
  readonly query: string;
  readonly headers: Record<string, string> = {};
  readonly requestId: string;
  #ip: string | undefined;

  constructor(
    private readonly res: HttpResponse,
    req: HttpRequest,
  ) {
    const headers = this.headers;
    req.forEach((k, v) => (headers[k] = v));
    this.method = req.getCaseSensitiveMethod().toUpperCase();
    this.url = req.getUrl();
    this.query = req.getQuery() ?? '';
    const given = headers['x-request-id'];
    this.requestId = given !== undefined && isRequestId(given) ? given : `${idPrefix}-${(++idCounter).toString(36)}`;
  }

  /** Read on demand: most requests never ask, and the address is valid until the response ends. */
  get ip(): string {
    return (this.#ip ??= remoteIp(this.res));
  }
}

/** Per-request state shared by middlewares and the handler; the child logger is made on first use. */
class RequestScope implements MiddlewareContext {
  auth: AuthContext | null = null;
  rawBody: Buffer | null = null;
  readonly responseHeaders: Record<string, string> = {};
  #log: Logger | undefined;

  constructor(
    readonly route: RouteDef,
    readonly req: IncomingRequest,
    private readonly root: Logger,
  ) {}

  /** A pino child per request costs more than a small request itself. */
  get log(): Logger {
    return (this.#log ??= this.root.child({ requestId: this.req.requestId }));
  }
}

class Context<P, Q, B> implements HandlerContext<P, Q, B> {
  constructor(
    readonly params: P,
    readonly query: Q,
    readonly body: B,
    private readonly scope: RequestScope,
  ) {}
  get auth(): AuthContext {
    return this.scope.auth as AuthContext;
  }
  get req(): RequestInfo {
    return this.scope.req;
  }
  get log(): Logger {
    return this.scope.log;
  }
}

/** uWS gives IPv4 peers as IPv4-mapped IPv6 text; report them as plain IPv4. */
function remoteIp(res: HttpResponse): string {
  let text: string;
  try {
    text = Buffer.from(res.getRemoteAddressAsText()).toString();
  } catch {
    return ''; // the response has already ended or been aborted
  }
  if (text.startsWith('::ffff:')) return text.slice(7);
  if (text.startsWith('0000:0000:0000:0000:0000:ffff:')) {
    const h = text.slice(30).replace(':', '');
    return [0, 2, 4, 6].map((i) => parseInt(h.slice(i, i + 2), 16)).join('.');
  }
  return text;
}

function handle(
  res: HttpResponse,
  req: HttpRequest,
  route: RouteDef,
  params: Record<string, string>,
  opts: AdapterOptions,
  declaredErrors: Set<string> | undefined,
): void {
  const info = new IncomingRequest(res, req);
  const state = { aborted: false, async: false };
  const mctx = new RequestScope(route, info, opts.log);
  const getLog = () => mctx.log;

  const call = (rawBody: Buffer | null): Maybe<Result> => {
    if (route.auth !== false) authorize(mctx.auth as AuthContext, route.auth);
    const ctx = new Context(
      parse(route.params, decodeParams(params), 'params', 'not_found'),
      route.query ? parse(route.query, queryObject(info.query), 'query') : {},
      route.body ? parse(route.body, parseJson(rawBody, info.headers), 'body') : undefined,
      mctx,
    );
    return then(route.handler(ctx), (value) => {
      if (value instanceof Reply) return { status: value.status, body: value.body, headers: value.headers };
      if (opts.validateResponses && route.response) {
        const check = route.response.safeParse(value);
        if (!check.success) {
          getLog().error({ route: route.operationId, issues: check.error.issues }, 'response does not match its schema');
          throw new Error(`response of ${route.operationId} does not match its schema`);
        }
      }
      return { status: route.status ?? 200, body: value, headers: noHeaders };
    });
  };

  const run = (rawBody: Buffer | null): Maybe<Result> => {
    mctx.rawBody = rawBody;
    const mws = opts.middlewares;
    const chained = mws?.length ? () => dispatch(mws, 0, mctx, () => call(rawBody)) : () => call(rawBody);
    if (route.auth === false) return chained();
    if (!opts.authenticate) throw new AppError('authentication_error');
    return then(opts.authenticate(info), (auth) => {
      mctx.auth = auth;
      return chained();
    });
  };

  const fail = (thrown: unknown) => {
    let err = thrown;
    if (declaredErrors && err instanceof AppError && !declaredErrors.has(err.code)) {
      getLog().error({ route: route.operationId, code: err.code }, 'error not declared by the route');
      err = new Error(`${route.operationId} answered ${err.code}, which it does not declare (errors: [...])`, { cause: thrown });
    }
    const out = toErrorResponse(err);
    if (out.internal) getLog().error({ err, route: route.operationId }, 'request failed');
    write(res, state, { status: out.status, body: out.body, headers: out.headers }, info.requestId, mctx.responseHeaders);
  };
  const succeed = (result: Result) => {
    try {
      write(res, state, result, info.requestId, mctx.responseHeaders);
    } catch (err) {
      // The value could not be written (JSON.stringify threw: a BigInt, a cycle): still an answer.
      fail(err);
    }
  };
  const finish = (start: () => Maybe<Result>) => {
    let out: Maybe<Result>;
    try {
      out = start();
    } catch (err) {
      fail(err);
      return;
    }
    if (!(out instanceof Promise)) {
      succeed(out);
      return;
    }
    // uWS requires onAborted before any asynchronous response.
    if (!state.async) {
      state.async = true;
      res.onAborted(() => (state.aborted = true));
    }
    // Both settle handlers are boundaries of their own: nothing rejects unhandled from here.
    out.then(succeed, fail).catch((err: unknown) => getLog().error({ err, route: route.operationId }, 'response could not be written'));
  };

  if (!route.body) {
    finish(() => run(null));
    return;
  }
  state.async = true;
  res.onAborted(() => (state.aborted = true));
  const max = route.maxBodyBytes ?? opts.maxBodyBytes;
  const declared = Number(info.headers['content-length'] ?? '0');
  if (declared > max) {
    fail(tooLarge(max));
    return;
  }
  readBody(res, max, (body) => guard(res, opts.log, () => (body ? finish(() => run(body)) : fail(tooLarge(max)))));
}

const noHeaders: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** Runs middleware `i` with the rest of the chain as its `next`, and `last` at the end. */
function dispatch(mws: Middleware[], i: number, ctx: MiddlewareContext, last: () => Maybe<Result>): Maybe<Result> {
  const mw = mws[i];
  return mw ? mw(ctx, () => dispatch(mws, i + 1, ctx, last)) : last();
}

const tooLarge = (max: number) => new AppError('payload_too_large', `Request body exceeds ${max} bytes`);

/** Collects the body; calls back with null as soon as it passes `max` bytes. */
function readBody(res: HttpResponse, max: number, done: (body: Buffer | null) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  res.onData((chunk, isLast) => {
    if (over) return;
    size += chunk.byteLength;
    if (size > max) {
      over = true;
      done(null);
      return;
    }
    // uWS reuses the chunk's memory after this callback returns: copy it.
    chunks.push(Buffer.from(Buffer.from(chunk)));
    if (isLast) done(Buffer.concat(chunks, size));
  });
}

function parseJson(raw: Buffer | null, headers: Record<string, string>): unknown {
  if (!raw || raw.length === 0) return undefined;
  const type = (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw new AppError('unsupported_media_type', `Content-Type must be application/json, got "${type || 'none'}"`);
  }
  return parseClientJson(raw, 'body');
}

/**
 * `a=1&b=2&b=3` -> { a: '1', b: ['2', '3'] }. Stricter than `URLSearchParams`, which keeps a
 * malformed escape (`%ZZ`) as text and turns an escape that is not UTF-8 (`%E0%A4%A`) into
 * U+FFFD: both would reach a filter as a value the client never meant, so both are a
 * `validation_error` naming the parameter.
 */
function queryObject(query: string): Record<string, string | string[]> {
  if (!query) return {};
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const pair of query.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const k = decodeQueryPart(eq < 0 ? pair : pair.slice(0, eq), null);
    const v = eq < 0 ? '' : decodeQueryPart(pair.slice(eq + 1), k);
    const prev = out[k];
    // push, not spread: a query repeating one key n times must cost n, not n².
    if (prev === undefined) out[k] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[k] = [prev, v];
  }
  return out;
}

/** One `application/x-www-form-urlencoded` part: `+` is a space, escapes must be UTF-8. */
function decodeQueryPart(text: string, name: string | null): string {
  const plus = text.includes('+') ? text.replace(/\+/g, ' ') : text;
  if (!plus.includes('%')) return plus;
  try {
    return decodeURIComponent(plus);
  } catch {
    const field = name === null ? 'query' : `query.${name}`;
    throw new AppError('validation_error', 'Invalid query', [{ field, message: 'Malformed percent-escape (or not UTF-8)' }]);
  }
}

function parse(schema: z.ZodType | undefined, value: unknown, where: string, code: 'validation_error' | 'not_found' = 'validation_error'): unknown {
  if (!schema) return value;
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  if (code === 'not_found') throw new AppError('not_found');
  const message = where === 'body' ? 'Invalid request body' : `Invalid ${where}`;
  throw new AppError('validation_error', message, zodDetails(r.error, where === 'body' ? undefined : where));
}

function write(
  res: HttpResponse,
  state: { aborted: boolean },
  result: Result,
  requestId: string,
  extraHeaders: Record<string, string> = noHeaders,
): void {
  const { status, body, headers } = result;
  if (state.aborted) {
    if (body instanceof FileBody) closeFile(body);
    return;
  }
  if (body instanceof StreamBody) {
    openStream(res, state, result, body, requestId, extraHeaders);
    return;
  }
  if (body instanceof FileBody) {
    sendFile(res, state, result, body, requestId, extraHeaders);
    return;
  }
  let payload: string | Buffer | undefined;
  let json = false;
  if (status === 204 || body === undefined) payload = undefined;
  else if (typeof body === 'string' || Buffer.isBuffer(body)) payload = body;
  else {
    payload = JSON.stringify(body);
    json = true;
  }
  res.cork(() => {
    res.writeStatus(statusLines.get(status) ?? statusLine(status));
    res.writeHeader('x-request-id', requestId);
    for (const k in extraHeaders) res.writeHeader(k, extraHeaders[k]!);
    for (const k in headers) res.writeHeader(k, headers[k]!);
    if (json && !('content-type' in headers)) res.writeHeader('content-type', 'application/json; charset=utf-8');
    if (!('cache-control' in headers)) res.writeHeader('cache-control', 'no-store');
    res.end(payload);
  });
}

/** The status line and headers of a streamed or file answer (inside a cork). */
function writeHead(res: HttpResponse, result: Result, requestId: string, extraHeaders: Record<string, string>): void {
  res.writeStatus(statusLines.get(result.status) ?? statusLine(result.status));
  res.writeHeader('x-request-id', requestId);
  for (const k in extraHeaders) res.writeHeader(k, extraHeaders[k]!);
  for (const k in result.headers) res.writeHeader(k, result.headers[k]!);
  if (!('cache-control' in result.headers)) res.writeHeader('cache-control', 'no-store');
}

/**
 * Writes status and headers, then hands the response to the stream's `start` instead of ending
 * it (chunked transfer: uWS adds `Transfer-Encoding: chunked` on the first write).
 */
function openStream(
  res: HttpResponse,
  state: { aborted: boolean },
  result: Result,
  body: StreamBody,
  requestId: string,
  extraHeaders: Record<string, string>,
): void {
  const stream = new UwsResponseStream(res, body.filler);
  // Replaces the adapter's own handler, if any: the stream now owns the response.
  res.onAborted(() => {
    state.aborted = true;
    try {
      stream.aborted();
    } catch {
      // `onClose` listeners log their own failures; the client is gone either way.
    }
  });
  res.cork(() => writeHead(res, result, requestId, extraHeaders));
  try {
    body.start(stream);
  } catch {
    // `start` logs its own failures; the client sees the connection close.
    stream.close();
  }
}

/** Bytes read from a file per write: large enough for few round trips, small enough to hold per client. */
const fileChunkBytes = 256 * 1024;

const closeFile = (body: FileBody): void => void body.file.close().catch(() => {});

/**
 * Writes status and headers, then the file a chunk at a time with uWS `tryEnd` (which sets
 * Content-Length): the next chunk is read only once uWS took the last, after `onWritable` when the
 * client is slow. The file is closed when the body is done, the client goes away or a read fails
 * (the connection is then closed: the status line is already out).
 */
function sendFile(
  res: HttpResponse,
  state: { aborted: boolean },
  result: Result,
  body: FileBody,
  requestId: string,
  extraHeaders: Record<string, string>,
): void {
  let over = false;
  const finish = () => {
    if (over) return;
    over = true;
    closeFile(body);
  };
  const fail = () => {
    finish();
    if (state.aborted) return;
    state.aborted = true;
    res.close();
  };
  res.onAborted(() => {
    state.aborted = true;
    finish();
  });
  res.cork(() => {
    writeHead(res, result, requestId, extraHeaders);
    if (body.length === 0) res.end();
  });
  if (body.length === 0) return finish();
  let sent = 0;
  const next = (): void => {
    const len = Math.min(fileChunkBytes, body.length - sent);
    const chunk = Buffer.allocUnsafe(len);
    body.file.read(chunk, 0, len, body.start + sent).then(({ bytesRead }) => {
      if (state.aborted) return finish();
      if (bytesRead < len) return fail(); // the file shrank under us
      sent += len;
      const base = res.getWriteOffset();
      let ok = false;
      let done = false;
      res.cork(() => ([ok, done] = res.tryEnd(chunk, body.length)));
      if (done) return finish();
      if (ok) return next();
      res.onWritable((offset) => {
        // A uWS callback: nothing thrown here may reach uWS (it would end the process).
        try {
          const [more, end] = res.tryEnd(chunk.subarray(offset - base), body.length);
          if (end) finish();
          else if (more) next();
          return more;
        } catch {
          fail();
          return true;
        }
      });
    }, fail).catch(fail);
  };
  next();
}

/**
 * Answers a request outside the route table (a refused WebSocket upgrade) with the error
 * envelope, as the adapter answers any route.
 */
export function respondWithError(res: HttpResponse, err: unknown, requestId: string, aborted = false): void {
  const out = toErrorResponse(err);
  write(res, { aborted }, { status: out.status, body: out.body, headers: out.headers }, requestId);
}
