/**
 * Providers: the tenant's credentials for speech and language services, named so that agents
 * can refer to them (`config.voice.provider`, `config.transcriber.provider`, `config.llm.provider`).
 *
 * - `kind` `openai` is OpenAI or any server speaking its API (vLLM, Ollama, llama.cpp): its
 *   `baseUrl` includes `/v1`. `deepgram` transcribes; `elevenlabs` speaks.
 * - `apiKey` is write-only: responses say `apiKeySet`. On update, a body without `apiKey` keeps
 *   the stored key, `"apiKey": null` removes it. The key is never logged.
 * - Names are unique per tenant and mode (`conflict`); `flite`, the built-in offline voice, is
 *   reserved.
 * - A provider that agents use cannot be deleted, renamed, or given a kind that no longer fits
 *   what they use it for (`conflict`, naming the agents): agents refer to providers by name, so
 *   the change would otherwise surface only as failing speech on live calls. Change the agents
 *   first.
 *
 * Writing providers is for owners and admins (they hold paid credentials, like SIP trunks);
 * every role reads them, without the key.
 */
import { z } from 'zod';
import { providerKinds, reservedProviderNames, roleNeeds, servesRole, type ProviderKind } from '../../engine/agents/providers/provider-kinds.js';
import type { Provider } from '../../engine/store/repositories/providers.js';
import type { Scope } from '../../engine/store/repositories/scoped.js';
import type { Store } from '../../engine/store/store.js';
import { AppError } from '../http/errors.js';
import { listQuery } from '../http/pagination.js';
import type { RouteDef } from '../http/route.js';
import { access, managers } from './access.js';
import { crudRoutes, resourceShape, timestampsShape, unique } from './crud.js';

const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'Must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit')
  .refine((n) => !reservedProviderNames.includes(n.toLowerCase()), 'flite is the built-in text-to-speech provider: choose another name')
  .meta({ description: 'What agents name in their config, e.g. `openai` or `my-ollama`; unique per tenant and mode; `flite` is reserved' });
const kind = z.enum(providerKinds).meta({
  description: '`openai`: OpenAI or a compatible server (vLLM, Ollama, llama.cpp) via baseUrl, for llm, voice and transcriber; `deepgram`: transcriber; `elevenlabs`: voice',
});
const baseUrl = z
  .url({ protocol: /^(https?|wss?)$/, error: 'Must be an http, https, ws or wss URL' })
  .max(2048)
  .nullable()
  .meta({ description: "null = the provider's public endpoint. An OpenAI-compatible server's includes /v1, e.g. http://127.0.0.1:11434/v1" });
const apiKey = z
  .string()
  .max(4096)
  .regex(/^[\x21-\x7e]+$/, 'Must be printable ASCII without spaces')
  .nullable()
  .meta({ description: 'Write-only: never returned (see apiKeySet) nor logged. On update: leave out to keep, null to remove' });

const createBody = z
  .strictObject({ name, kind, baseUrl: baseUrl.optional(), apiKey: apiKey.optional() })
  .meta({ id: 'ProviderCreate' });
const updateBody = z
  .strictObject({ name: name.optional(), kind: kind.optional(), baseUrl: baseUrl.optional(), apiKey: apiKey.optional() })
  .meta({ id: 'ProviderUpdate' });

const providerSchema = z
  .object({
    ...resourceShape,
    name: z.string(),
    kind,
    baseUrl: z.string().nullable(),
    apiKeySet: z.boolean().meta({ description: 'Whether an API key is stored (the key itself is write-only)' }),
    ...timestampsShape,
  })
  .meta({ id: 'Provider' });

/** The provider without its tenant id and its key. */
const present = ({ tenantId: _, apiKey: key, ...p }: Provider) => ({ ...p, apiKeySet: key !== null });

const taken = (n: string | undefined) => `A provider named "${n}" already exists`;

/** Refuses a change that would leave agents naming a provider that is gone or cannot serve them. */
function checkUsers(store: Store, scope: Scope, cur: Provider, next: { name: string; kind: ProviderKind } | null): void {
  const users = store.agents.usingProvider(scope, cur.name);
  if (!users.length) return;
  const list = users.map((u) => `agent ${u.id}`).join(', ');
  if (!next) throw new AppError('conflict', `Provider is used by ${list}`);
  if (next.name !== cur.name) throw new AppError('conflict', `Provider is used by ${list} by its name: change their config first`);
  const misfits = users.flatMap((u) => u.roles.filter((r) => !servesRole(next.kind, r)).map((r) => `agent ${u.id} (config.${r}.provider needs ${roleNeeds(r)})`));
  if (misfits.length) throw new AppError('conflict', `A ${next.kind} provider cannot serve ${misfits.join(', ')}`);
}

export function providerRoutes(store: Store): RouteDef[] {
  return crudRoutes({
    path: '/api/v1/providers',
    tag: 'Providers',
    names: { one: 'Provider', many: 'Providers', label: 'provider' },
    access: access('providers', managers),
    item: providerSchema,
    listItem: providerSchema,
    createBody,
    updateBody,
    listQuery: listQuery('created_at', { kind: kind.optional() }),
    errors: { create: ['conflict'], update: ['conflict'], remove: ['conflict'] },
    present,
    presentListItem: present,
    list: (auth, q) => store.providers.list(auth, q, q.limit, q.offset),
    get: (auth, id) => store.providers.get(auth, id),
    create: (auth, body) => unique(() => store.providers.create(auth, body), taken(body.name)),
    update: (auth, id, body) =>
      store.db.transaction(() => {
        const cur = store.providers.get(auth, id);
        if (!cur) return undefined;
        checkUsers(store, auth, cur, { name: body.name ?? cur.name, kind: body.kind ?? cur.kind });
        return unique(() => store.providers.update(auth, id, body), taken(body.name));
      })(),
    remove: (auth, id) =>
      store.db.transaction(() => {
        const cur = store.providers.get(auth, id);
        if (!cur) return false;
        checkUsers(store, auth, cur, null);
        return store.providers.delete(auth, id);
      })(),
  });
}
