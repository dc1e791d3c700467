/**
 * The OpenAPI 3.0 document, generated from the route definitions and their zod schemas. Schemas
 * with a `.meta({ id })` become named components; every route lists its success response and
 * every error it can return (from auth, validation, rate limiting and its own `errors`).
 */
import { z } from 'zod';
import { errorEnvelopeSchema, errorTable, type ErrorCode } from './http/errors.js';
import type { RouteDef } from './http/route.js';

type Json = Record<string, unknown>;

export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
}

/** Converts one schema; named sub-schemas are hoisted into `components`. */
function toSchema(schema: z.ZodType, io: 'input' | 'output', components: Json): Json {
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
    if (route.auth.roles || route.auth.superAdmin || route.auth.scope) codes.add('authorization_error');
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
        content: { 'application/json': { schema: toSchema(route.response, 'output', components) } },
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
    const op: Json = {
      operationId: route.operationId,
      summary: route.summary,
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
        description: 'Repeating a key returns the first result instead of creating again.',
        schema: { type: 'string', maxLength: 255 },
      });
    }
    if (route.body) {
      op.requestBody = {
        required: true,
        content: { 'application/json': { schema: toSchema(route.body, 'input', components) } },
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
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        apiKeyAuth: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
    },
  };
}
