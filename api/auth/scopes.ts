/**
 * The scopes an API key can be restricted to: `<resource>:<action>`, `<resource>:*` or `*`.
 * This is the list of what the routes and WebSocket commands check (a test keeps the two in
 * sync), so a key cannot be given a scope that would grant nothing, such as a typo
 * (`agent:write`) or an action no route asks for (`analytics:write`).
 */
import { z } from 'zod';
import { scopePattern } from './api-key-secret.js';

/** Each resource with the actions something checks. */
export const scopeCatalogue = {
  agents: ['read', 'write'],
  workflows: ['read', 'write'],
  tools: ['read', 'write'],
  audio_files: ['read', 'write'],
  phone_numbers: ['read', 'write'],
  sip_trunks: ['read', 'write'],
  sip_users: ['read', 'write'],
  providers: ['read', 'write'],
  webhooks: ['read', 'write'],
  calls: ['read', 'write'],
  analytics: ['read'],
  events: ['read'],
  users: ['read', 'write'],
  api_keys: ['read', 'write'],
} as const satisfies Record<string, readonly string[]>;

type Resource = keyof typeof scopeCatalogue;
const resources = Object.keys(scopeCatalogue) as Resource[];

/** Every `resource:action` the catalogue names. */
export const knownScopes: string[] = resources.flatMap((r) => scopeCatalogue[r].map((a) => `${r}:${a}`));

/** Why `scope` grants nothing, or null when it is a real one. */
function unknownScope(scope: string): string | null {
  if (scope === '*') return null;
  const [resource = '', action = ''] = scope.split(':');
  if (!Object.hasOwn(scopeCatalogue, resource)) return `unknown resource "${resource}" (one of ${resources.join(', ')})`;
  const actions: readonly string[] = scopeCatalogue[resource as Resource];
  if (action !== '*' && !actions.includes(action)) return `${resource} has no action "${action}" (${[...actions, '*'].join(', ')})`;
  return null;
}

/** A scope in a request body: well formed, and one that something checks. */
export const scopeSchema = z
  .string()
  .regex(scopePattern, 'must be "*", "resource:*" or "resource:action"')
  .superRefine((s, ctx) => {
    if (!scopePattern.test(s)) return;
    const why = unknownScope(s);
    if (why) ctx.addIssue({ code: 'custom', message: why });
  })
  .meta({ description: `\`*\`, \`<resource>:*\` or one of ${knownScopes.map((s) => `\`${s}\``).join(', ')}` });
