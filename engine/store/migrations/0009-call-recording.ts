import type { Migration } from '../migrate.js';

/**
 * A call's recording, as JSON (`CallRecording` in engine/calls/call-record.ts): status, duration,
 * size, error. Null when the call was not recorded. A column of its own rather than a key in
 * `metadata` (which is the caller's, set through the API) or `metrics` (measurements that
 * analytics reads): the recording is written at a different time from both (when it starts and
 * when its file is closed, after the call ended) and the API serves a file by it.
 */
export const m0009CallRecording: Migration = {
  version: 9,
  name: 'call-recording',
  sql: `ALTER TABLE calls ADD COLUMN recording TEXT;`,
};
