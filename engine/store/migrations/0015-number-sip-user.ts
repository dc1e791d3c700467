import type { Migration } from '../migrate.js';

/**
 * A phone number may route to one of the tenant's SIP users instead of an agent (issue 10: calls
 * from a trunk to a registered user). A number has an agent or a SIP user, never both; deleting
 * the user leaves the number without a target, as deleting its agent does (ON DELETE SET NULL).
 * The index serves that cascade and the `sipUserId` list filter.
 */
export const m0015NumberSipUser: Migration = {
  version: 15,
  name: 'number sip user',
  sql: `
    ALTER TABLE phone_numbers ADD COLUMN sip_user_id TEXT REFERENCES sip_users(id) ON DELETE SET NULL
      CHECK (sip_user_id IS NULL OR agent_id IS NULL);
    CREATE INDEX phone_numbers_sip_user ON phone_numbers (sip_user_id) WHERE sip_user_id IS NOT NULL;
  `,
};
