/**
 * An agent's `config`: how it speaks, listens and thinks on a call. Only `prompt.system` is
 * required; every other setting may be left out, and the runtime then uses `agentDefaults`.
 * Leaving defaults out of the stored config (rather than writing them in) keeps a partial update
 * (`PATCH`) from resetting what the caller did not mention.
 */
import { z } from 'zod';

/** A BCP 47 tag such as `en`, `en-US` or `pt-BR`. */
export const languageTag = z
  .string()
  .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'Must be a BCP 47 language tag such as en-US');

/** A variable name usable in templates (`{{name}}`) and conditions. */
export const variableName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'Must be a letter or _ followed by up to 63 letters, digits or _');

/** An http(s) URL. */
export const httpUrl = z.url({ protocol: /^https?$/, error: 'Must be an http or https URL' }).max(2048);

const provider = z.string().min(1).max(64);
/** Where each provider name is looked up, for the document; the API checks it (api/routes/agents.ts). */
const providerNamed = (what: string) =>
  provider.meta({ description: `The name of one of the tenant's providers (\`/api/v1/providers\`, same mode) of kind ${what}` });

const voiceSchema = z
  .strictObject({ provider: providerNamed('openai or elevenlabs, or `flite` (built in, offline, no credential)'), voiceId: z.string().min(1).max(256) })
  .meta({ id: 'AgentVoice', description: 'Text-to-speech provider and voice' });

const transcriberSchema = z
  .strictObject({ provider: providerNamed('deepgram or openai'), model: z.string().min(1).max(128).optional(), language: languageTag.optional() })
  .meta({ id: 'AgentTranscriber', description: 'Speech-to-text provider' });

const llmSchema = z
  .strictObject({
    provider: providerNamed('openai (OpenAI or a compatible server: vLLM, Ollama, llama.cpp)'),
    model: z.string().min(1).max(128),
    temperature: z.number().min(0).max(2).optional().meta({ description: '0–2; default 0.7' }),
  })
  .meta({ id: 'AgentLlm' });

const timeoutsSchema = z
  .strictObject({
    silenceMs: z.number().int().min(1000).max(600_000).optional().meta({
      description: 'Caller silence before the agent re-prompts or ends the call; default 10000',
    }),
    maxDurationMs: z.number().int().min(10_000).max(14_400_000).optional().meta({
      description: 'Hard limit on a call; default 3600000 (one hour)',
    }),
  })
  .meta({ id: 'AgentTimeouts' });

/** How an external agent's audio is framed on its WebSocket (both ways, 8 kHz mono, 20 ms frames). */
export const externalAudioFormats = ['pcmu', 'l16'] as const;

/** A header name: an RFC 9110 token. */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
/** Headers the WebSocket handshake sets itself (RFC 6455 §4.1); an agent's config may not. */
const HANDSHAKE_HEADER = /^(host|connection|upgrade|content-length|transfer-encoding|sec-websocket-.*)$/i;

const websocketSchema = z
  .strictObject({
    url: z.url({ protocol: /^wss?$/, error: 'Must be a ws or wss URL' }).max(2048),
    audio: z.enum(externalAudioFormats).optional().meta({
      description: 'Framing of the audio both ways: `pcmu` (G.711 μ-law, 160 bytes a 20 ms frame) or `l16` (16-bit little-endian linear PCM, 320 bytes a frame); 8 kHz mono; default pcmu',
    }),
    headers: z
      .record(z.string(), z
          .string()
          .max(4096)
          .regex(/^[^\r\n\0]*$/, 'Must not hold CR, LF or NUL')
          // What Node sends in a header (else every call would fail to connect); CR, LF, NUL said above.
          .refine((v) => /[\r\n\0]/.test(v) || /^[\t\x20-\x7e\x80-\xff]*$/.test(v), 'Must hold only tab, printable ASCII and Latin-1 characters'))
      .superRefine((h, ctx) => {
        const names = Object.keys(h);
        if (names.length > 16) ctx.addIssue({ code: 'custom', message: 'At most 16 headers' });
        for (const name of names) {
          if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'Must be an HTTP header name' });
          else if (HANDSHAKE_HEADER.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'Is set by the WebSocket handshake itself' });
        }
      })
      .optional()
      .meta({
        description: `Sent on the upgrade request (e.g. Authorization); at most 16. Write-only: answers show each value as \`${'********'}\` and it is never logged; an update that gives \`websocket\` replaces them all, so send the real values again (the mask itself is refused)`,
      }),
  })
  .meta({ id: 'AgentWebSocket', description: 'Where a `websocket` agent lives: the engine opens this WebSocket for each answered call and speaks the external agent protocol (`ExternalAgent*` components)' });

const promptSchema = z.strictObject({ system: z.string().min(1).max(100_000) }).meta({ id: 'AgentPrompt' });

const settings = {
  kind: z.enum(['builtin', 'websocket']).optional().meta({
    description: '`builtin` (default): the engine runs the agent (workflow, LLM, greeting). `websocket`: the agent is your program, reached over a WebSocket (`websocket`); the engine streams the call to it',
  }),
  websocket: websocketSchema.optional(),
  firstMessage: z.string().min(1).max(10_000).nullable().optional().meta({
    description: 'Said when the call is answered; null or absent = wait for the caller',
  }),
  language: languageTag.optional().meta({
    description: 'The caller’s language, sent to the transcriber and the voice; left out, each service uses its own default',
  }),
  voice: voiceSchema.optional(),
  transcriber: transcriberSchema.optional(),
  llm: llmSchema.optional(),
  toolIds: z.array(z.string().min(1)).max(64).optional().meta({ description: 'Tools the LLM may call; each must exist' }),
  workflowId: z.string().min(1).nullable().optional().meta({ description: 'Workflow to run; must exist' }),
  bargeIn: z.boolean().optional().meta({ description: 'The caller may interrupt the agent; default true' }),
  recording: z.boolean().optional().meta({ description: 'Record calls as stereo WAV (caller left, agent right), served at GET /calls/{id}/recording; default false' }),
  timeouts: timeoutsSchema.optional(),
  variables: z
    .record(variableName, z.union([z.string().max(10_000), z.number(), z.boolean(), z.null()]))
    .optional()
    .meta({ description: 'Initial values of the call variables' }),
  webhookUrl: httpUrl.nullable().optional().meta({
    description:
      'Kept for old configs; not called by this version. To receive this agent’s call events, create a subscription with `POST /api/v1/webhooks` and `agentId` set to this agent (signed, retried, logged)',
  }),
};

/**
 * The full config. A missing `prompt` (or a missing config) reports `config.prompt.system`
 * "Field is required", exactly as the API reference's example error does.
 */
export const agentConfigSchema = z
  .strictObject({ prompt: promptSchema.prefault({} as z.input<typeof promptSchema>), ...settings })
  .superRefine((c, ctx) => {
    for (const issue of kindIssues(c)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  })
  .meta({
    id: 'AgentConfig',
    description:
      'How the agent runs a call: its workflow (the version current when the call starts), else an LLM conversation with its prompt and tools, else its greeting alone. An agent with no greeting, workflow or LLM echoes the caller (a media check)',
  });
export type AgentConfig = z.infer<typeof agentConfigSchema>;

/** What answers show for each of a `websocket` agent's header values (they are write-only). */
export const MASKED_HEADER_VALUE = '********';

/** `config` as answers show it: the socket's header values masked. */
export function maskedConfig(config: AgentConfig): AgentConfig {
  const headers = config.websocket?.headers;
  if (!headers) return config;
  return { ...config, websocket: { ...config.websocket!, headers: Object.fromEntries(Object.keys(headers).map((k) => [k, MASKED_HEADER_VALUE])) } };
}

/** A header value sent back as the mask answers show: refused, or the secret would become the mask. */
export function maskIssues(c: Pick<AgentConfigPatch, 'websocket'>): { path: string[]; message: string }[] {
  return Object.entries(c.websocket?.headers ?? {})
    .filter(([, v]) => v === MASKED_HEADER_VALUE)
    .map(([k]) => ({ path: ['websocket', 'headers', k], message: 'Is the mask answers show: send the real value' }));
}

/** Settings of the engine's own runtime: a `websocket` agent (your program speaks and listens) has no use for them. */
const builtinOnlyKeys = ['firstMessage', 'language', 'voice', 'transcriber', 'llm', 'toolIds', 'workflowId', 'bargeIn'] as const;

/**
 * What an agent's kind requires of its config: a `websocket` agent names its socket and holds
 * none of the built-in runtime's settings (they would be stored and silently ignored); a built-in
 * agent holds no socket. Checked by the schema on a whole config, and by the agents route on an
 * update's merged one (so a change of kind clears the other kind's keys in the same update).
 */
export function kindIssues(c: Pick<AgentConfigPatch, 'kind' | 'websocket' | (typeof builtinOnlyKeys)[number]>): { path: string[]; message: string }[] {
  if (c.kind !== 'websocket') return c.websocket ? [{ path: ['websocket'], message: 'Used only when kind is websocket: remove it, or set kind' }] : [];
  const issues = c.websocket ? [] : [{ path: ['websocket'], message: 'Field is required when kind is websocket' }];
  for (const key of builtinOnlyKeys) {
    if (c[key] !== undefined && c[key] !== null) issues.push({ path: [key], message: 'Not used by a websocket agent (your program speaks and listens): remove it, or clear it with null' });
  }
  return issues;
}

/** Keys an update may clear with null (the runtime then uses its default). */
export const clearableConfigKeys = ['voice', 'transcriber', 'llm', 'timeouts', 'variables', 'toolIds', 'language', 'bargeIn', 'kind', 'websocket'] as const;

/** A partial config for updates: each key given replaces the stored one; null clears it (all but `prompt`). */
export const agentConfigPatchSchema = z
  .strictObject({
    prompt: promptSchema,
    ...settings,
    ...Object.fromEntries(clearableConfigKeys.map((k) => [k, settings[k].unwrap().nullable().optional()])),
  } as { prompt: typeof promptSchema } & typeof settings & { [K in (typeof clearableConfigKeys)[number]]: z.ZodOptional<z.ZodNullable<ReturnType<(typeof settings)[K]['unwrap']>>> })
  .partial()
  .meta({ id: 'AgentConfigPatch' });
export type AgentConfigPatch = z.infer<typeof agentConfigPatchSchema>;

