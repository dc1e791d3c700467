import type { Migration } from '../migrate.js';

/**
 * When call control sent (was about to send) a call's 200 OK. The answer is recorded
 * (`answered_at`, `call.answered`) once the SIP server confirms the 200 went out; a process that
 * dies between the two leaves a caller who was answered and a row that says it never was. This
 * column is written just before the 200, so start-up recovery (engine/calls/orphans.ts) records
 * such a call as answered at that time. Not part of the API: `answered_at` is.
 */
export const m0006AnswerSent: Migration = {
  version: 6,
  name: 'answer-sent',
  sql: `ALTER TABLE calls ADD COLUMN answer_sent_at TEXT;`,
};
