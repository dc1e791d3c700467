import type { Migration } from '../migrate.js';

/**
 * Indexes for the auth tables' housekeeping: expired idempotency keys (24 h) and expired refresh
 * tokens are deleted by age, and a session (refresh-token family) is checked for a live token
 * whenever an access token is first verified.
 */
export const m0003AuthHousekeeping: Migration = {
  version: 3,
  name: 'auth-housekeeping',
  sql: `
    CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
    CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
    CREATE INDEX refresh_tokens_family_live ON refresh_tokens (family_id) WHERE revoked_at IS NULL;
  `,
};
