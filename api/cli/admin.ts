/**
 * The admin command, for operators with access to the database file:
 *
 *   npm run admin -- create-tenant --name Acme --owner-email ops@acme.example [--owner-name "Ada"] [--super-admin] [--json]
 *   npm run admin -- create-api-key --tenant <tenant id> --name ci [--mode live|test] [--role admin] [--scopes agents:*,calls:read] [--rate-limit 600] [--json]
 *   npm run admin -- list-tenants [--json]
 *
 * It uses the engine's settings (AS_DATABASE_PATH, AS_CONFIG, …), so it works on the same file
 * as a running engine (SQLite WAL allows it). create-tenant prints a generated password and
 * create-api-key the whole key: each is shown only this once.
 *
 * Exit codes: 0 done, 1 refused (e.g. the e-mail is taken), 64 bad usage (EX_USAGE), 78 bad
 * settings (EX_CONFIG).
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError, loadConfig } from '../../config/load.js';
import { createLogger } from '../../config/logger.js';
import { closeDatabase, openDatabase } from '../../engine/store/database.js';
import { roles } from '../http/route.js';
import { Store } from '../../engine/store/store.js';
import { createTenantWithOwner } from '../auth/accounts.js';
import { generateApiKey } from '../auth/api-key-secret.js';
import { scopeSchema } from '../auth/scopes.js';
import { generatePassword } from '../auth/passwords.js';
import { AppError } from '../http/errors.js';

const EX_USAGE = 64;
const EX_CONFIG = 78;

const usage = `Usage: npm run admin -- <command> [options]

Commands:
  create-tenant   --name <name> --owner-email <email> [--owner-name <name>] [--super-admin]
                  Creates a tenant and its owner with a generated password (printed once).
                  The owner is a super-admin with --super-admin, or when this is the first tenant.
  create-api-key  --tenant <tenant id> --name <name> [--mode live|test] [--role owner|admin|member|viewer]
                  [--scopes <scope,scope>] [--rate-limit <requests per minute>]
                  Creates an API key (printed once). Defaults: live, admin, unrestricted, 100/min.
  list-tenants    Lists tenants.

Every command takes --json for machine-readable output. Settings (the database file) come from
the engine's configuration: AS_DATABASE_PATH, AS_CONFIG, …`;

class UsageError extends Error {}

const createTenantArgs = z.object({
  name: z.string().trim().min(1).max(200),
  'owner-email': z.email(),
  'owner-name': z.string().trim().min(1).max(200).optional(),
  'super-admin': z.boolean().optional(),
});

const createKeyArgs = z.object({
  tenant: z.uuid(),
  name: z.string().trim().min(1).max(100),
  mode: z.enum(['live', 'test']).default('live'),
  role: z.enum(roles).default('admin'),
  scopes: z
    .string()
    .optional()
    .transform((s) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : null))
    .pipe(z.array(scopeSchema).nullable()),
  'rate-limit': z.coerce.number().int().min(1).optional(),
});

function parse<T extends z.ZodType>(schema: T, values: unknown): z.infer<T> {
  const r = schema.safeParse(values);
  if (!r.success) {
    throw new UsageError(r.error.issues.map((i) => `--${i.path.join('.') || '?'}: ${i.message}`).join('\n'));
  }
  return r.data;
}

type Out = (text: string, json: Record<string, unknown>) => void;

async function createTenant(store: Store, values: unknown, out: Out): Promise<void> {
  const a = parse(createTenantArgs, values);
  const password = generatePassword();
  const superAdmin = a['super-admin'] === true || store.tenants.count() === 0;
  const created = await createTenantWithOwner(store, {
    name: a.name,
    owner: { email: a['owner-email'], name: a['owner-name'] ?? null, password, superAdmin },
  });
  const { tenant, owner } = created!;
  out(
    [
      `tenant:      ${tenant.id} (${tenant.name})`,
      `owner:       ${owner.id} <${owner.email}>`,
      `super-admin: ${owner.superAdmin ? 'yes' : 'no'}`,
      `password:    ${password}`,
      '',
      'Sign in with POST /api/v1/auth/login. The password is shown only this once.',
    ].join('\n'),
    { tenantId: tenant.id, tenantName: tenant.name, ownerId: owner.id, ownerEmail: owner.email, superAdmin: owner.superAdmin, password },
  );
}

function createApiKey(store: Store, values: unknown, out: Out): void {
  const a = parse(createKeyArgs, values);
  const tenant = store.tenants.get(a.tenant);
  if (!tenant) throw new AppError('not_found', `No tenant ${a.tenant}`);
  const { key, prefix, hash } = generateApiKey(a.mode);
  const k = store.apiKeys.create({
    tenantId: tenant.id,
    name: a.name,
    mode: a.mode,
    role: a.role,
    prefix,
    keyHash: hash,
    scopes: a.scopes,
    rateLimit: a['rate-limit'] ?? null,
  });
  out(
    [
      `api key:  ${k.id} "${k.name}" (${k.mode}, ${k.role}) in tenant ${tenant.id} (${tenant.name})`,
      `key:      ${key}`,
      '',
      'Send it as X-API-Key. The key is shown only this once.',
    ].join('\n'),
    { id: k.id, tenantId: tenant.id, name: k.name, mode: k.mode, role: k.role, scopes: k.scopes, rateLimit: k.rateLimit, key },
  );
}

function listTenants(store: Store, json: boolean): void {
  const { items } = store.tenants.list(1_000_000, 0);
  if (json) process.stdout.write(`${JSON.stringify(items.map(({ id, name, status, createdAt }) => ({ id, name, status, createdAt })))}\n`);
  else for (const t of items) process.stdout.write(`${t.id}  ${t.status.padEnd(9)}  ${t.name}\n`);
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        name: { type: 'string' },
        'owner-email': { type: 'string' },
        'owner-name': { type: 'string' },
        'super-admin': { type: 'boolean' },
        tenant: { type: 'string' },
        mode: { type: 'string' },
        role: { type: 'string' },
        scopes: { type: 'string' },
        'rate-limit': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    process.stderr.write(`admin: ${(e as Error).message}\n\n${usage}\n`);
    return EX_USAGE;
  }
  const [command, ...extra] = parsed.positionals;
  if (parsed.values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (!command) {
    process.stderr.write(`${usage}\n`);
    return EX_USAGE;
  }
  if (!['create-tenant', 'create-api-key', 'list-tenants'].includes(command) || extra.length) {
    process.stderr.write(`admin: unknown command "${[command, ...extra].join(' ')}"\n\n${usage}\n`);
    return EX_USAGE;
  }

  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`admin: ${e.message}\n`);
      return EX_CONFIG;
    }
    throw e;
  }
  // Logs go to stderr, quietly: stdout carries only the result.
  const log = createLogger({ level: 'warn', pretty: false }, process.stderr);
  const db = openDatabase(config.database.path, log);
  const store = new Store(db);
  const { json, ...values } = parsed.values;
  const out: Out = (text, obj) => process.stdout.write(json ? `${JSON.stringify(obj)}\n` : `${text}\n`);
  try {
    if (command === 'create-tenant') await createTenant(store, values, out);
    else if (command === 'create-api-key') createApiKey(store, values, out);
    else listTenants(store, json === true);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`admin: ${e.message}\n\n${usage}\n`);
      return EX_USAGE;
    }
    if (e instanceof AppError) {
      process.stderr.write(`admin: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    closeDatabase(db);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`admin: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
