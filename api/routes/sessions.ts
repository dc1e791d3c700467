/** Signing in and out: login, refresh (rotating) and logout, under /api/v1/auth. */
import { z } from 'zod';
import { Reply, route, type RouteDef } from '../http/route.js';
import { MAX_PASSWORD_LENGTH } from '../auth/accounts.js';
import type { Sessions } from '../auth/sessions.js';

/** A JWT is three base64url parts; anything far longer is not one of ours. */
const jwt = z.string().min(1).max(4096);

const loginSchema = z
  .object({
    email: z.email().max(320),
    password: z.string().min(1).max(MAX_PASSWORD_LENGTH),
  })
  .meta({ id: 'LoginRequest' });

const refreshSchema = z.object({ refreshToken: jwt }).meta({ id: 'RefreshRequest' });

/** What login and refresh answer. */
const tokenPairSchema = z
  .object({
    accessToken: z.string().describe('JWT for `Authorization: Bearer`; short-lived'),
    refreshToken: z.string().describe('Single-use: exchange it at /auth/refresh for a new pair'),
    tokenType: z.literal('Bearer'),
    expiresIn: z.number().int().describe('Seconds until the access token expires'),
    refreshExpiresIn: z.number().int().describe('Seconds until the refresh token expires'),
  })
  .meta({ id: 'TokenPair' });

/** Routes under /api/v1/auth that sign in and out (`me` is in `auth.ts`). */
export function sessionRoutes(sessions: Sessions): RouteDef[] {
  return [
    route({
      method: 'post',
      path: '/api/v1/auth/login',
      auth: false,
      limitByIp: true,
      summary: 'Sign in with e-mail and password: an access token and a refresh token',
      tags: ['Authentication'],
      operationId: 'login',
      body: loginSchema,
      response: tokenPairSchema,
      errors: ['authentication_error'],
      handler: ({ body }) => sessions.login(body.email, body.password),
    }),
    route({
      method: 'post',
      path: '/api/v1/auth/refresh',
      auth: false,
      limitByIp: true,
      summary: 'Exchange a refresh token for a new pair; the token is spent, and reusing a spent token ends the session',
      tags: ['Authentication'],
      operationId: 'refreshToken',
      body: refreshSchema,
      response: tokenPairSchema,
      errors: ['authentication_error'],
      handler: ({ body }) => sessions.refresh(body.refreshToken),
    }),
    route({
      method: 'post',
      path: '/api/v1/auth/logout',
      auth: false,
      limitByIp: true,
      summary: "Sign out: end the refresh token's session; its access tokens stop working too",
      tags: ['Authentication'],
      operationId: 'logout',
      body: refreshSchema,
      status: 204,
      errors: ['authentication_error'],
      handler: async ({ body }) => {
        await sessions.logout(body.refreshToken);
        return new Reply(204, undefined);
      },
    }),
  ];
}
