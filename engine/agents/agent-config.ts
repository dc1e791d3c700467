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

const promptSchema = z.strictObject({ system: z.string().min(1).max(100_000) }).meta({ id: 'AgentPrompt' });

const settings = {
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
  .meta({
    id: 'AgentConfig',
    description:
      'How the agent runs a call: its workflow (the version current when the call starts), else an LLM conversation with its prompt and tools, else its greeting alone. An agent with no greeting, workflow or LLM echoes the caller (a media check)',
  });
export type AgentConfig = z.infer<typeof agentConfigSchema>;

/** Keys an update may clear with null (the runtime then uses its default). */
export const clearableConfigKeys = ['voice', 'transcriber', 'llm', 'timeouts', 'variables', 'toolIds', 'language', 'bargeIn'] as const;

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

