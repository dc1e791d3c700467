/**
 * Routes are data: method, path, auth, zod schemas for params, query, body and response, and a
 * handler that returns a value. The adapter (`adapter.ts`) does everything else, and the OpenAPI
 * document (`../openapi.ts`) is generated from the same definitions.
 */
import type { z } from 'zod';
import type { Logger } from '../../config/logger.js';
import type { ErrorCode } from './errors.js';
import type { FileHandle } from 'node:fs/promises';
import { FileBody, StreamBody, type ResponseStream } from './stream.js';
import type { Mode } from '../../engine/store/mode.js';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Roles inside a tenant, strongest first. */
export const roles = ['owner', 'admin', 'member', 'viewer'] as const;
export type Role = (typeof roles)[number];

/** Who is calling, as established by the authenticator. */
export interface AuthContext {
  kind: 'user' | 'api_key';
  tenantId: string;
  role: Role;
  /** Test keys see only test-mode data; users and live keys see live data. */
  mode: Mode;
  superAdmin: boolean;
  userId: string | null;
  apiKeyId: string | null;
  /** null = unrestricted. */
  scopes: string[] | null;
  /** Requests per minute for this caller. */
  rateLimit: number;
}

/** What a route demands of its caller; `false` means no authentication at all. */
export type AuthRequirement =
  | false
  | {
      /** Roles allowed; omitted = any role. */
      roles?: readonly Role[];
      /** Only super-admins (tenant management). */
      superAdmin?: boolean;
      /** API-key scope needed when the key has scopes. */
      scope?: string;
      /**
       * Refuse test-mode callers: for objects that are not split by mode (users), which a test
       * key must not reach.
       */
      liveOnly?: boolean;
    };

/** Request facts copied out of uWS before the first await (uWS forbids later access). */
export interface RequestInfo {
  method: string;
  url: string;
  query: string;
  headers: Record<string, string>;
  ip: string;
  requestId: string;
}

export interface HandlerContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** Set whenever the route requires auth. */
  auth: AuthContext;
  req: RequestInfo;
  log: Logger;
}

/** A handler result with a status, headers or a non-JSON body. */
export class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
  /** A non-JSON body (HTML, JS, CSS) with its content type. */
  static raw(body: string | Buffer, contentType: string, status = 200, headers: Record<string, string> = {}): Reply {
    return new Reply(status, body, { 'content-type': contentType, ...headers });
  }
  /**
   * `length` bytes of an open file from `start`, read as the client takes them (Content-Length is
   * `length`). The adapter closes the file when the response is over.
   */
  static file(file: FileHandle, start: number, length: number, contentType: string, status = 200, headers: Record<string, string> = {}): Reply {
    return new Reply(status, new FileBody(file, start, length), { 'content-type': contentType, ...headers });
  }
  /**
   * A long-lived streamed body (Server-Sent Events): status and headers go out at once, then
   * `start` writes to the stream until either side ends it. `filler` is a chunk the client ignores
   * (see `stream.ts`).
   */
  static stream(
    contentType: string,
    start: (stream: ResponseStream) => void,
    filler: string,
    headers: Record<string, string> = {},
  ): Reply {
    return new Reply(200, new StreamBody(start, filler), { 'content-type': contentType, ...headers });
  }
}

export interface RouteDef<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
  R extends z.ZodType = z.ZodType,
> {
  method: Method;
  /** uWS pattern with `:name` parameters, e.g. `/api/v1/agents/:id`. */
  path: string;
  auth: AuthRequirement;
  summary: string;
  tags: string[];
  operationId: string;
  params?: P;
  query?: Q;
  body?: B;
  /** Named examples of the request body for the OpenAPI document (OpenAPI 3.0 Media Type `examples`). */
  bodyExamples?: Record<string, { summary: string; value: unknown }>;
  /** Schema of a success body; omitted for non-JSON responses (documents, pages). */
  response?: R;
  /** Success status (200 default, 201 for creates, 204 for empty). */
  status?: number;
  /** Errors this route may return, beyond those implied by auth and validation. */
  errors?: ErrorCode[];
  /**
   * Largest request body this route takes, bytes, in place of the server's `http.maxBodyBytes`
   * (an upload of a sound file). Bigger bodies are `payload_too_large`, unread.
   */
  maxBodyBytes?: number;
  /** Whether the route honours `Idempotency-Key` (create endpoints). */
  idempotent?: boolean;
  /**
   * Rate-limit this unauthenticated route per client address (login, refresh: routes that do
   * costly work for anyone who asks). Authenticated routes are always limited per caller.
   */
  limitByIp?: boolean;
  /** Not listed in the OpenAPI document (the document itself, docs pages, assets). */
  hidden?: boolean;
  /**
   * Content type of a non-JSON success body, for the OpenAPI document. With `response`, that
   * schema describes each message of the stream (an SSE event's `data:`).
   */
  produces?: string;
  /** Longer text for the OpenAPI operation (Markdown), beyond `summary`. */
  description?: string;
  handler: (
    ctx: HandlerContext<z.infer<P>, z.infer<Q>, z.infer<B>>,
  ) => z.infer<R> | Reply | Promise<z.infer<R> | Reply>;
}

/** Declares a route with its types inferred from its schemas. */
export function route<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType, R extends z.ZodType>(
  def: RouteDef<P, Q, B, R>,
): RouteDef {
  return def as unknown as RouteDef;
}
