/**
 * The kinds of provider a tenant can store credentials for (`/api/v1/providers`), and which kind
 * serves which part of an agent. `openai` is OpenAI or any server speaking its API (vLLM,
 * Ollama, llama.cpp) through its base URL; `deepgram` is streaming speech to text; `elevenlabs`
 * is text to speech. `flite` is the built-in offline text-to-speech: it needs no credential, so
 * it is never stored, and its name is reserved.
 */

export const providerKinds = ['openai', 'deepgram', 'elevenlabs'] as const;
export type ProviderKind = (typeof providerKinds)[number];

/** The built-in offline text-to-speech provider. */
export const BUILTIN_TTS = 'flite';
/** Names a stored provider may not take (case-insensitive): the built-in ones. */
export const reservedProviderNames: readonly string[] = [BUILTIN_TTS];

/** The agent config keys that name a provider, and the kinds each accepts. */
export const providerRoles = {
  voice: ['openai', 'elevenlabs'],
  transcriber: ['deepgram', 'openai'],
  llm: ['openai'],
} as const satisfies Record<string, readonly ProviderKind[]>;
export type ProviderRole = keyof typeof providerRoles;

/** Whether a provider of `kind` can serve `role`. */
export function servesRole(kind: ProviderKind, role: ProviderRole): boolean {
  return (providerRoles[role] as readonly ProviderKind[]).includes(kind);
}

/** What `role` accepts, for messages: "flite or a provider of kind openai or elevenlabs". */
export function roleNeeds(role: ProviderRole): string {
  const kinds = `a provider of kind ${providerRoles[role].join(' or ')}`;
  return role === 'voice' ? `${BUILTIN_TTS} or ${kinds}` : kinds;
}
