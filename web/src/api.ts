/**
 * The API client and the session. The access token lives only in this module's memory; the
 * refresh token (single-use, rotated on every refresh) is kept in `sessionStorage` under
 * `agent-studio.refreshToken`, so a reload of the tab stays signed in and closing the tab forgets
 * it. Nothing else is stored: no access token, no API key, no password, nothing in localStorage.
 */

/** The API's error envelope (`{ error: { code, message, details } }`), or one of ours for transport failures. */
export interface ApiErrorBody {
  code: string;
  message: string;
  details: { field: string; message: string }[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(body.message);
  }
}

export const REFRESH_KEY = 'agent-studio.refreshToken';

interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

type Listener = (signedIn: boolean) => void;

let accessToken: string | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | null = null;
const listeners = new Set<Listener>();

/** Called with the new state whenever the user signs in or out (or the session is lost). */
export function onSessionChange(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export const signedIn = (): boolean => accessToken !== null;

function storedRefresh(): string | null {
  try {
    return sessionStorage.getItem(REFRESH_KEY);
  } catch {
    return null;
  }
}

function store(pair: TokenPair | null): void {
  const was = accessToken !== null;
  clearTimeout(refreshTimer);
  accessToken = pair?.accessToken ?? null;
  try {
    if (pair) sessionStorage.setItem(REFRESH_KEY, pair.refreshToken);
    else sessionStorage.removeItem(REFRESH_KEY);
  } catch {
    // Storage refused (private mode): the session lasts as long as the page.
  }
  if (pair) {
    // Refresh a minute before the access token expires (at least 10 s from now).
    refreshTimer = setTimeout(() => void refresh(), Math.max(10, pair.expiresIn - 60) * 1000);
  }
  if (was !== (accessToken !== null)) for (const l of listeners) l(accessToken !== null);
}

async function send(method: string, path: string, body: unknown, token: string | null): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers['authorization'] = `Bearer ${token}`;
  try {
    return await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit' });
  } catch (e) {
    throw new ApiError(0, { code: 'network_error', message: `The engine could not be reached (${e instanceof Error ? e.message : String(e)})`, details: [] });
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  let parsed: unknown;
  try {
    parsed = await res.json();
  } catch {
    parsed = undefined;
  }
  const e = (parsed as { error?: Partial<ApiErrorBody> } | undefined)?.error;
  if (e && typeof e.code === 'string' && typeof e.message === 'string') {
    const retry = res.headers.get('retry-after');
    const message = res.status === 429 && retry ? `${e.message} (retry in ${retry} s)` : e.message;
    return new ApiError(res.status, { code: e.code, message, details: Array.isArray(e.details) ? e.details : [] });
  }
  return new ApiError(res.status, { code: 'http_error', message: `The engine answered HTTP ${res.status}`, details: [] });
}

async function tokens(path: string, body: unknown): Promise<TokenPair> {
  const res = await send('POST', path, body, null);
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as TokenPair;
}

export async function login(email: string, password: string): Promise<void> {
  store(await tokens('/api/v1/auth/login', { email, password }));
}

/** Exchanges the stored refresh token for a new pair; false (and signed out) when it cannot. */
export function refresh(): Promise<boolean> {
  refreshing ??= (async () => {
    const token = storedRefresh();
    if (!token) {
      store(null);
      return false;
    }
    try {
      store(await tokens('/api/v1/auth/refresh', { refreshToken: token }));
      return true;
    } catch (e) {
      // A network failure keeps the refresh token for the next try; a refusal ends the session.
      if (!(e instanceof ApiError) || e.status !== 0) store(null);
      return false;
    }
  })().finally(() => (refreshing = null));
  return refreshing;
}

export async function logout(): Promise<void> {
  const token = storedRefresh();
  store(null);
  if (token) await send('POST', '/api/v1/auth/logout', { refreshToken: token }, null).catch(() => undefined);
}

/** A JSON request with the access token; one refresh and retry on 401. Throws ApiError. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res = await send(method, path, body, accessToken);
  if (res.status === 401 && storedRefresh() && (await refresh())) res = await send(method, path, body, accessToken);
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** A binary resource (a recording) as a blob: URL the caller revokes. */
export async function blobUrl(path: string): Promise<string> {
  let res = await send('GET', path, undefined, accessToken);
  if (res.status === 401 && (await refresh())) res = await send('GET', path, undefined, accessToken);
  if (!res.ok) throw await errorOf(res);
  return URL.createObjectURL(await res.blob());
}

/** `{ "config.prompt.system": "…" }` from a validation error's details (the API names body fields from the root). */
export function fieldErrors(error: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (error instanceof ApiError) for (const d of error.body.details) out[d.field] ??= d.message;
  return out;
}

export interface Page<T> {
  items: T[];
  total: number;
}
