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
import { m0011OutboundCalls } from './0011-outbound-calls.js';
import { m0012Webhooks } from './0012-webhooks.js';
import { m0013SipUsers } from './0013-sip-users.js';
import { m0014WebhookChainHeads } from './0014-webhook-chain-heads.js';
import { m0015NumberSipUser } from './0015-number-sip-user.js';

export const migrations: readonly Migration[] = [m0001Foundation, m0002CoreSchema, m0003AuthHousekeeping, m0004ListOrderIndexes, m0005TableVersions, m0006AnswerSent, m0007Liveness, m0008Providers, m0009CallRecording, m0010AudioFiles, m0011OutboundCalls, m0012Webhooks, m0013SipUsers, m0014WebhookChainHeads, m0015NumberSipUser];
