/** Every migration, in order. Append; never edit one that has shipped. */
import type { Migration } from '../migrate.js';
import { m0001Foundation } from './0001-foundation.js';
import { m0002CoreSchema } from './0002-core-schema.js';
import { m0003AuthHousekeeping } from './0003-auth-housekeeping.js';
import { m0004ListOrderIndexes } from './0004-list-order-indexes.js';
import { m0005TableVersions } from './0005-table-versions.js';
import { m0006AnswerSent } from './0006-answer-sent.js';
import { m0007Liveness } from './0007-liveness.js';
import { m0008Providers } from './0008-providers.js';
import { m0009CallRecording } from './0009-call-recording.js';
import { m0010AudioFiles } from './0010-audio-files.js';
import { m0013SipUsers } from './0013-sip-users.js';

/**
 * Versions 11 and 12 belong to other branches of issue 11 (outbound calls, webhooks); these
 * stand-ins keep the numbering gap-free until they land. MERGE: replace them with those
 * branches' migrations.
 */
const m0011Reserved: Migration = { version: 11, name: 'reserved', sql: '' };
const m0012Reserved: Migration = { version: 12, name: 'reserved', sql: '' };

export const migrations: readonly Migration[] = [m0001Foundation, m0002CoreSchema, m0003AuthHousekeeping, m0004ListOrderIndexes, m0005TableVersions, m0006AnswerSent, m0007Liveness, m0008Providers, m0009CallRecording, m0010AudioFiles, m0011Reserved, m0012Reserved, m0013SipUsers];
