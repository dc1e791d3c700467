/** One real app per test file: started on port 0 with a fresh SQLite file, closed after. */
import type { TestFn } from 'ava';
import { startApp, type App } from '../../api/app.js';
import type { Config } from '../../config/schema.js';
import { testConfig, testLogger } from './config.js';
import { request, type JsonResponse } from './http.js';

interface Running {
  app: App;
  base: string;
  config: Config;
  /** Resolves once the app is up; `before` hooks of the test file await it (hooks run concurrently). */
  ready: Promise<void>;
  /** A request to the running app. */
  req<T = unknown>(
    method: string,
    path: string,
    opts?: { body?: unknown; headers?: Record<string, string>; raw?: string },
  ): Promise<JsonResponse<T>>;
}

/** Registers before/after hooks on `test` and returns a handle filled in by `before`. */
export function useApp(test: TestFn, overrides: Record<string, unknown> = {}): Running {
  const running = {} as Running;
  let started: () => void;
  let failed: (e: unknown) => void;
  running.ready = new Promise<void>((resolve, reject) => {
    started = resolve;
    failed = reject;
  });
  // A start failure is reported by this hook; the file's hooks awaiting `ready` fail with it too.
  running.ready.catch(() => {});
  test.before(async () => {
    try {
      const config = testConfig(overrides);
      const app = await startApp(config, testLogger(config));
      const base = `http://127.0.0.1:${app.http.port}`;
      Object.assign(running, { app, base, config, req: (m: string, p: string, o = {}) => request(base, m, p, o) });
      started();
    } catch (e) {
      failed(e);
      throw e;
    }
  });
  test.after.always(() => running.app?.close());
  return running;
}

/** Bearer headers from a real login. */
export async function login(
  r: Running,
  email: string,
  password: string,
): Promise<{ accessToken: string; refreshToken: string; headers: Record<string, string> }> {
  const res = await r.req<{ accessToken: string; refreshToken: string }>('POST', '/api/v1/auth/login', {
    body: { email, password },
  });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { ...res.body, headers: { authorization: `Bearer ${res.body.accessToken}` } };
}
