/**
 * Loads settings: defaults, then an optional JSON file, then `AS_*` environment variables.
 * This is the only module that reads `process.env`.
 *
 * Each setting `section.key` maps to `AS_SECTION_KEY` (camelCase becomes UPPER_SNAKE):
 * `http.port` -> `AS_HTTP_PORT`, `sip.t1Ms` -> `AS_SIP_T1_MS`. `AS_CONFIG` names the JSON file.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { configSchema, type Config } from './schema.js';

/** Thrown when settings are invalid; `issues` names every bad field. */
export class ConfigError extends Error {
  constructor(readonly issues: { field: string; message: string }[]) {
    super(`invalid configuration:\n${issues.map((i) => `  - ${i.field}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** `t1Ms` -> `T1_MS`, `maxBodyBytes` -> `MAX_BODY_BYTES`. */
const snake = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

/** The env variable that sets the setting at `path`. */
export const envName = (p: readonly string[]) => `AS_${p.map(snake).join('_')}`;

/** Leaf paths of the schema: [['env'], ['http','host'], ...]. */
export function settingPaths(): string[][] {
  const out: string[][] = [];
  const shape = objectShape(configSchema) ?? {};
  for (const [section, sub] of Object.entries(shape)) {
    const inner = objectShape(sub);
    if (!inner) out.push([section]);
    else for (const key of Object.keys(inner)) out.push([section, key]);
  }
  return out;
}

/** Unwraps default/prefault/optional/pipe wrappers down to a z.object's shape, if it is one. */
function objectShape(schema: unknown): Record<string, unknown> | undefined {
  let s = schema as { _zod?: { def: Record<string, unknown> } } | undefined;
  for (let i = 0; i < 10 && s?._zod; i++) {
    const def = s._zod.def;
    if (def.type === 'object') return def.shape as Record<string, unknown>;
    s = (def.innerType ?? def.in ?? def.schema) as typeof s;
  }
  return undefined;
}

/** Settings as given by the environment: a nested object of strings. */
function fromEnv(env: Env): { values: Record<string, unknown>; unknown: string[] } {
  const values: Record<string, Record<string, unknown> | unknown> = {};
  const known = new Map(settingPaths().map((p) => [envName(p), p]));
  const unknown: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('AS_') || value === undefined || name === 'AS_CONFIG') continue;
    const p = known.get(name);
    if (!p) {
      unknown.push(name);
      continue;
    }
    if (p.length === 1) values[p[0]!] = value;
    else ((values[p[0]!] ??= {}) as Record<string, unknown>)[p[1]!] = value;
  }
  return { values, unknown };
}

function readFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([{ field: 'AS_CONFIG', message: `cannot read ${file}: ${(e as Error).message}` }]);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError([{ field: 'AS_CONFIG', message: `${file} is not a JSON object: ${(e as Error).message}` }]);
  }
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      prev && typeof prev === 'object' && !Array.isArray(prev) && v && typeof v === 'object' && !Array.isArray(v)
        ? merge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/**
 * Builds the settings. Throws `ConfigError` naming every bad field (with the env variable that
 * sets it), so a bad start fails once with the whole list.
 */
export function loadConfig(env: Env = process.env, overrides: Record<string, unknown> = {}): Config {
  const file = env.AS_CONFIG ? readFile(env.AS_CONFIG) : {};
  const { values, unknown } = fromEnv(env);
  const issues: { field: string; message: string }[] = unknown.map((name) => ({
    field: name,
    message: 'unknown setting',
  }));
  const result = configSchema.safeParse(merge(merge(file, values), overrides));
  if (!result.success) {
    for (const issue of result.error.issues) {
      const p = issue.path.map(String);
      const field = p.length ? `${p.join('.')} (${envName(p.slice(0, 2))})` : '(root)';
      const message = issue.code === 'unrecognized_keys' ? `unknown setting(s): ${issue.keys.join(', ')}` : issue.message;
      issues.push({ field, message });
    }
  }
  if (issues.length || !result.success) throw new ConfigError(issues);
  const config = result.data;
  // mediasoup's own variable, honoured so the start script's build cache is found.
  config.media.workerBin ??= env.MEDIASOUP_WORKER_BIN || defaultWorkerBin(env);
  config.log.pretty ??= Boolean(process.stdout.isTTY) && config.env !== 'production';
  return config;
}

/**
 * Where scripts/build-mediasoup-worker.sh caches the worker: $XDG_CACHE_HOME (or ~/.cache)
 * /agent-studio/mediasoup-worker-<mediasoup version>/mediasoup-worker.
 */
function defaultWorkerBin(env: Env = process.env): string {
  const version = (createRequire(import.meta.url)('mediasoup/package.json') as { version: string }).version;
  const cache = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cache, 'agent-studio', `mediasoup-worker-${version}`, 'mediasoup-worker');
}
