import type { Migration } from '../migrate.js';

/**
 * Outbound calls (issue 11):
 * - `calls.sip_code`: the final SIP status the far end sent on an outbound call (486, 603, 200…),
 *   or null when none came (no answer before the ring timeout, canceled before a final, inbound).
 * - `sip_trunks.max_concurrent_calls`: the trunk's cap on live outbound calls (dialling or
 *   answered); null = no cap of its own. Calls over it wait in the trunk's queue, like the CPS cap.
 */
export const m0011OutboundCalls: Migration = {
  version: 11,
  name: 'outbound-calls',
  sql: `
    ALTER TABLE calls ADD COLUMN sip_code INTEGER CHECK (sip_code IS NULL OR sip_code BETWEEN 100 AND 699);
    ALTER TABLE sip_trunks ADD COLUMN max_concurrent_calls INTEGER CHECK (max_concurrent_calls IS NULL OR max_concurrent_calls > 0);
  `,
};
