/**
 * A tool the LLM (or a workflow `tool` node) can call: a name, a description, JSON Schema
 * parameters, and the action that runs it, an HTTP webhook or a built-in call action.
 */
import { z } from 'zod';
import { httpUrl } from './agent-config.js';
import { jsonSchemaSchema } from './json-schema.js';

/** LLM function-calling APIs accept names of 1–64 letters, digits, _ and -. */
export const toolName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'Must start with a letter, then up to 63 letters, digits, _ or -');

/** Function calling wants an object of named arguments at the top. */
export const toolParametersSchema = jsonSchemaSchema.refine((s) => s.type === 'object', {
  path: ['type'],
  message: 'Tool parameters must be a JSON Schema with "type": "object"',
});

/** Headers we set on every webhook request; a tool may not override them. */
const reservedHeaders = /^(host|content-length|content-type|connection|transfer-encoding|x-agentstudio-.*)$/i;
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
const headerValue = z.string().max(4096).regex(/^[^\r\n]*$/, 'Must not contain line breaks');
/** Extra request headers; each bad name is reported at its own key. */
const headers = z.record(z.string(), headerValue).superRefine((h, ctx) => {
  for (const name of Object.keys(h)) {
    const message = !headerName.test(name)
      ? 'Must be an HTTP header name'
      : reservedHeaders.test(name)
        ? 'Set by Agent Studio; cannot be overridden'
        : undefined;
    if (message) ctx.addIssue({ code: 'custom', path: [name], message });
  }
});

/** Long enough for a slow CRM lookup, short enough that a caller does not sit in silence. */
const MAX_WEBHOOK_TIMEOUT_MS = 30_000;
const DEFAULT_WEBHOOK_TIMEOUT_MS = 5_000;

export const webhookActionSchema = z
  .strictObject({
    type: z.literal('webhook'),
    url: httpUrl,
    method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
    headers: headers.default({}),
    timeoutMs: z.number().int().min(100).max(MAX_WEBHOOK_TIMEOUT_MS).default(DEFAULT_WEBHOOK_TIMEOUT_MS),
    secret: z
      .string()
      .min(16)
      .max(256)
      .nullable()
      .optional()
      .meta({ description: 'HMAC-SHA256 signing secret; write-only. On update: omit to keep, null to remove' }),
  })
  .meta({ id: 'WebhookAction' });

const builtinActions = ['transfer', 'hangup', 'send_dtmf', 'end_call'] as const;
export const builtinActionSchema = z
  .strictObject({ type: z.literal('builtin'), name: z.enum(builtinActions) })
  .meta({ id: 'BuiltinAction' });

export const toolActionSchema = z.discriminatedUnion('type', [webhookActionSchema, builtinActionSchema]).meta({ id: 'ToolAction' });
export type ToolAction = z.infer<typeof toolActionSchema>;
export type WebhookAction = z.infer<typeof webhookActionSchema>;

/** What each built-in does, as `POST /tools/{id}/test` describes it. */
export const builtinDescriptions: Record<(typeof builtinActions)[number], string> = {
  transfer: 'Transfers the call to the number or SIP URI in the "target" argument (SIP REFER, or a new outbound leg)',
  hangup: 'Hangs up the call after the agent finishes speaking',
  send_dtmf: 'Sends the digits in the "digits" argument as RFC 4733 telephone events',
  end_call: 'Ends the call at once and records the "reason" argument as its end reason',
};
