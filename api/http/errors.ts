/**
 * One error table, one mapper. Every error the API returns is an `AppError` with a code from
 * `errorTable`; `toErrorResponse` turns anything thrown into the reference's envelope:
 * `{"error":{"code","message","details":[{"field","message"}]}}`.
 */
import { z } from 'zod';

/**
 * The reference's six codes, plus the few it does not cover (each where none of the six fits).
 * Keep in sync with the OpenAPI document: a test checks both.
 */
export const errorTable = {
  authentication_error: { status: 401, message: 'Invalid or missing credentials' },
  authorization_error: { status: 403, message: 'Insufficient permissions' },
  not_found: { status: 404, message: 'Resource not found' },
  method_not_allowed: { status: 405, message: 'Method not allowed' },
  conflict: { status: 409, message: 'Conflict with the current state of the resource' },
  payload_too_large: { status: 413, message: 'Request body too large' },
  unsupported_media_type: { status: 415, message: 'Content-Type must be application/json' },
  validation_error: { status: 422, message: 'Invalid request body' },
  rate_limit_exceeded: { status: 429, message: 'Too many requests' },
  internal_error: { status: 500, message: 'Internal server error' },
  /** A request the engine does not carry out in this version (none answers it today; kept for the contract). */
  not_implemented: { status: 501, message: 'Not implemented' },
  service_unavailable: { status: 503, message: 'Service unavailable' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorTable;
export const errorCodes = Object.keys(errorTable) as ErrorCode[];

interface ErrorDetail {
  field: string;
  message: string;
}

/** An error meant for the client. Anything else thrown becomes `internal_error`. */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details: ErrorDetail[] = [],
    /** Extra response headers, e.g. Retry-After or Allow. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message ?? errorTable[code].message);
    this.name = 'AppError';
    this.status = errorTable[code].status;
  }
}

/** The envelope's schema, used by the OpenAPI document and by tests. */
export const errorEnvelopeSchema = z
  .object({
    error: z.object({
      code: z.enum(errorCodes as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      details: z.array(z.object({ field: z.string(), message: z.string() })),
    }),
  })
  .meta({ id: 'Error' });

type ErrorEnvelope = z.infer<typeof errorEnvelopeSchema>;

/** A field path as details show it: dotted keys, bracketed indexes (`graph.nodes[3].id`). */
export function fieldPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += out ? `.${String(s)}` : String(s);
  }
  return out;
}

/** zod issues as envelope details, with field paths (`config.prompt.system`, `graph.nodes[3].id`). */
export function zodDetails(error: z.ZodError, prefix?: string): ErrorDetail[] {
  return error.issues.flatMap((issue) => {
    const p = [...(prefix ? [prefix] : []), ...issue.path];
    // A strict object names each unknown field on its own line.
    if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => ({ field: fieldPath([...p, k]), message: 'Unknown field' }));
    const missing = issue.code === 'invalid_type' && issue.message.includes('received undefined');
    return { field: fieldPath(p) || (prefix ?? 'body'), message: missing ? 'Field is required' : issue.message };
  });
}

/**
 * Maps anything thrown to status, envelope and headers. `internal` is true when the cause must
 * be logged (it is never sent to the client).
 */
export function toErrorResponse(err: unknown): {
  status: number;
  body: ErrorEnvelope;
  headers: Record<string, string>;
  internal: boolean;
} {
  if (err instanceof AppError) {
    return {
      status: err.status,
      body: { error: { code: err.code, message: err.message, details: err.details } },
      headers: err.headers,
      internal: err.code === 'internal_error',
    };
  }
  const { status, message } = errorTable.internal_error;
  return { status, body: { error: { code: 'internal_error', message, details: [] } }, headers: {}, internal: true };
}
