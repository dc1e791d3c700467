import type { Maybe } from '../../lib/maybe.js';

/**
 * Health of the engine's components. Each component registers a check; `report()` runs them all
 * (a check that throws or takes too long counts as down) and derives the overall status.
 */
export type ComponentStatus = 'up' | 'down';

export interface ComponentHealth {
  status: ComponentStatus;
  /** Why it is down, when it is. */
  error?: string;
  [detail: string]: unknown;
}

interface HealthReport {
  status: 'ok' | 'down';
  version: string;
  uptimeSeconds: number;
  components: Record<string, ComponentHealth>;
}

type HealthCheck = () => Maybe<ComponentHealth>;

/** A check slower than this is reported down (a hung component must not hang health). */
const CHECK_TIMEOUT_MS = 2000;

export class Health {
  readonly #checks = new Map<string, HealthCheck>();
  readonly #started = Date.now();

  constructor(private readonly version: string) {}

  register(name: string, check: HealthCheck): void {
    this.#checks.set(name, check);
  }

  /** Runs every check; synchronous when every check is (the usual case). */
  report(): Maybe<HealthReport> {
    const names = [...this.#checks.keys()];
    const results = [...this.#checks.values()].map(runCheck);
    const build = (list: ComponentHealth[]): HealthReport => {
      const components: Record<string, ComponentHealth> = {};
      list.forEach((c, i) => (components[names[i]!] = c));
      return {
        status: list.every((c) => c.status === 'up') ? 'ok' : 'down',
        version: this.version,
        uptimeSeconds: Math.round((Date.now() - this.#started) / 1000),
        components,
      };
    };
    return results.some((r) => r instanceof Promise) ? Promise.all(results).then(build) : build(results as ComponentHealth[]);
  }
}

function runCheck(check: HealthCheck): Maybe<ComponentHealth> {
  let result: Maybe<ComponentHealth>;
  try {
    result = check();
  } catch (e) {
    return { status: 'down', error: (e as Error).message };
  }
  if (!(result instanceof Promise)) return result;
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    result,
    new Promise<ComponentHealth>((resolve) => {
      timer = setTimeout(() => resolve({ status: 'down', error: `check timed out after ${CHECK_TIMEOUT_MS} ms` }), CHECK_TIMEOUT_MS);
    }),
  ])
    .catch((e: unknown) => ({ status: 'down' as const, error: (e as Error).message }))
    .finally(() => clearTimeout(timer));
}
