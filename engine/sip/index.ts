/**
 * The public surface of the embedded SIP stack, for the drachtio wire-protocol server and the
 * engine. Everything else under engine/sip is internal to the stack.
 */
export { SipStack, type RoutedRequests, type SipStackEvents, type SipStackStats } from './sip-stack.js';
export { stackOptionsFromConfig, publicHostFor, STACK_DEFAULTS, type SipStackOptions } from './stack-options.js';

export { SipRequest, SipResponse, SIP_VERSION, type SipMessage } from './message/message.js';
export { Headers, type HeaderField } from './message/headers.js';
export { canonicalName, headerKey, isListHeader } from './message/header-names.js';
export { parseMessage, DEFAULT_LIMITS, type ParseLimits } from './message/parser.js';
export { serialize } from './message/serializer.js';
export { SipParseError, type SipParseErrorCode } from './message/errors.js';
export { parseUri, parseSipUri, formatUri, uriEquals, type Uri, type SipUri } from './message/uri.js';
export { parseNameAddr, formatNameAddr, tagOf, withTag, type NameAddr } from './message/name-addr.js';
export { parseVia, formatVia, viaBranch, type Via } from './message/via.js';
export { parseCSeq, type CSeq } from './message/scalar-headers.js';
export { getParam, type Param } from './message/params.js';
export { reasonPhrase } from './message/status.js';

export { newTag, newBranch, newCallId, initialCSeq } from './ids.js';

export type { ServerTransaction, ClientTransaction } from './transaction/transaction-layer.js';
export { ServerInviteTransaction } from './transaction/server-invite-transaction.js';
export { ServerNonInviteTransaction } from './transaction/server-non-invite-transaction.js';
export { ClientInviteTransaction } from './transaction/client-invite-transaction.js';
export { ClientNonInviteTransaction } from './transaction/client-non-invite-transaction.js';
export { TransactionStateError } from './transaction/transaction.js';
export { timerValues, type TimerConfig } from './transaction/timers.js';

export { Dialog, dialogKey, type DialogId, type DialogState, type InDialogRequestOptions } from './dialog/dialog.js';
export { DialogTable } from './dialog/dialog-table.js';

export { TransportError, type SipProtocol, type MessageSource, type ReceivedInfo, type SentInfo, type Target, type Endpoint } from './transport/types.js';
export type { ListeningPoint } from './transport/transport-layer.js';
