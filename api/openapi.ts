/**
 * The OpenAPI 3.0 document, generated from the route definitions and their zod schemas. Schemas
 * with a `.meta({ id })` become named components; every route lists its success response and
 * every error it can return (from auth, validation, rate limiting and its own `errors`).
 */
import { z } from 'zod';
import { errorEnvelopeSchema, errorTable, type ErrorCode } from './http/errors.js';
import type { RouteDef } from './http/route.js';

type Json = Record<string, unknown>;

interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
}

/** Converts one schema; named sub-schemas are hoisted into `components`. */
export function toSchema(schema: z.ZodType, io: 'input' | 'output', components: Json): Json {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Json;
  const defs = (json.definitions ?? {}) as Json;
  delete json.definitions;
  delete json.$schema;
  const fix = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(fix);
    if (v && typeof v === 'object') {
      const o: Json = {};
      for (const [k, x] of Object.entries(v)) {
        o[k] = k === '$ref' && typeof x === 'string' ? x.replace('#/definitions/', '#/components/schemas/') : fix(x);
      }
      return o;
    }
    return v;
  };
  for (const [name, def] of Object.entries(defs)) components[name] ??= fix(def);
  return fix(json) as Json;
}

/** Parameters of one location (`path` or `query`) from a z.object schema. */
function parameters(schema: z.ZodType | undefined, location: 'path' | 'query', components: Json): Json[] {
  if (!schema) return [];
  const json = toSchema(schema, 'input', components);
  const props = (json.properties ?? {}) as Record<string, Json>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => {
    const { description, ...rest } = s;
    return {
      name,
      in: location,
      required: location === 'path' || required.has(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

/** Every error a route can answer with. */
export function routeErrors(route: RouteDef): ErrorCode[] {
  const codes = new Set<ErrorCode>(route.errors ?? []);
  if (route.auth !== false) {
    codes.add('authentication_error');
    codes.add('rate_limit_exceeded');
    if (route.auth.roles || route.auth.superAdmin || route.auth.scope || route.auth.liveOnly) {
      codes.add('authorization_error');
    }
  }
  if (route.limitByIp) codes.add('rate_limit_exceeded');
  if (route.idempotent) {
    // A key reused with another request (422), or repeated while the first still runs (409).
    codes.add('validation_error');
    codes.add('conflict');
  }
  if (route.params) codes.add('not_found');
  if (route.query || route.body) codes.add('validation_error');
  if (route.body) {
    codes.add('payload_too_large');
    codes.add('unsupported_media_type');
  }
  codes.add('internal_error');
  return [...codes];
}

const intHeader = (description: string): Json => ({ description, schema: { type: 'integer' } });

const rateLimitHeaderDefs: Json = {
  'X-RateLimit-Limit': intHeader('Requests allowed per minute for this caller'),
  'X-RateLimit-Remaining': intHeader('Requests left in the current window'),
  'X-RateLimit-Reset': intHeader('When the window resets, in Unix seconds'),
  'Retry-After': intHeader('Seconds until a request may succeed'),
};

const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });

/**
 * Rate-limited responses carry X-RateLimit-*, and 429 also Retry-After. Authenticated routes are
 * limited per caller, so every response but 401 (no caller yet) has them; `limitByIp` routes are
 * limited before anything else, so all of theirs do.
 */
function addRateLimitHeaders(route: RouteDef, responses: Json): void {
  if (route.auth === false && !route.limitByIp) return;
  for (const [status, response] of Object.entries(responses)) {
    if (route.auth !== false && status === '401') continue;
    const headers: Json = {
      'X-RateLimit-Limit': headerRef('X-RateLimit-Limit'),
      'X-RateLimit-Remaining': headerRef('X-RateLimit-Remaining'),
      'X-RateLimit-Reset': headerRef('X-RateLimit-Reset'),
    };
    if (status === '429') headers['Retry-After'] = headerRef('Retry-After');
    (response as Json).headers = headers;
  }
}

export function buildOpenApi(routes: readonly RouteDef[], info: OpenApiInfo): Json {
  const components: Json = {};
  const paths: Record<string, Json> = {};
  toSchema(errorEnvelopeSchema, 'output', components);
  for (const route of routes) {
    if (route.hidden) continue;
    const p = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const status = String(route.status ?? 200);
    const responses: Json = {};
    if (status === '204') responses[status] = { description: 'No content' };
    else if (route.response) {
      responses[status] = {
        description: 'Success',
        content: { [route.produces ?? 'application/json']: { schema: toSchema(route.response, 'output', components) } },
      };
    } else {
      responses[status] = { description: 'Success', content: { [route.produces ?? 'application/json']: {} } };
    }
    for (const code of routeErrors(route)) {
      const httpStatus = String(errorTable[code].status);
      const existing = responses[httpStatus] as Json | undefined;
      if (existing) {
        existing.description = `${String(existing.description)}; ${code}`;
        continue;
      }
      responses[httpStatus] = {
        description: code,
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
    }
    addRateLimitHeaders(route, responses);
    const op: Json = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: route.tags,
      parameters: [...parameters(route.params, 'path', components), ...parameters(route.query, 'query', components)],
      responses,
      security: route.auth === false ? [] : [{ bearerAuth: [] }, { apiKeyAuth: [] }],
    };
    if (route.idempotent) {
      (op.parameters as Json[]).push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description:
          'Retrying with the same key within 24 hours returns the first successful result (status and body, ' +
          'with `Idempotent-Replayed: true`) without creating again. The same key with a different request ' +
          'is 422 validation_error; a repeat while the first still runs is 409 conflict. Use a random key (a UUID).',
        schema: { type: 'string', maxLength: 255 },
      });
    }
    if (route.body) {
      op.requestBody = {
        required: true,
        content: { 'application/json': { schema: toSchema(route.body, 'input', components), ...(route.bodyExamples ? { examples: route.bodyExamples } : {}) } },
      };
    }
    (paths[p] ??= {})[route.method] = op;
  }
  return {
    openapi: '3.0.3',
    info,
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: components,
      headers: rateLimitHeaderDefs,
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        apiKeyAuth: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
    },
  };
}
