/**
 * What transfer tests share: the deps `transferCall` takes from an in-process engine, the live
 * answered call, and the SIPp fragments that end a call after a REFER's NOTIFYs.
 */
import type Srf from 'drachtio-srf';
import type { App } from '../../api/app.js';
import type { Call } from '../../engine/calls/call.js';
import type { TransferDeps } from '../../engine/calls/transfer.js';
import { waitFor } from './http.js';
import { SIPP_CALLER_BYE } from './inbound.js';

export const transferDeps = (app: App): TransferDeps => ({
  srf: app.engine.calls.srf as unknown as Srf,
  store: app.engine.store,
  events: app.engine.events,
  media: app.engine.mediaService,
  registrar: app.engine.registrar,
});

/** The one answered call the engine carries now, with its leg and dialog. */
export const liveCall = (app: App, timeoutMs = 10_000): Promise<Call> =>
  waitFor(() => [...app.engine.calls.calls.values()].find((c) => c.state === 'answered' && c.parts.dialog && c.parts.leg), timeoutMs);

/** `{{tail}}` of transfer-refer-accept.xml when the transfer succeeds: the engine's BYE, answered. */
export const ENGINE_BYE = `  <recv request="BYE" timeout="10000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>`;

/** `{{tail}}` of transfer-refer-accept.xml when the call goes on: the caller's BYE after `pauseMs` (CSeq 4, after two NOTIFYs). */
export const callerByeAfterNotifies = (pauseMs: number): string =>
  `  <pause milliseconds="${pauseMs}"/>\n` +
  SIPP_CALLER_BYE.replace('CSeq: 3 BYE', 'CSeq: 4 BYE').replace('[next_url]', 'sip:[service]@[remote_ip]:[remote_port]');

/** `{{referAnswer}}` of transfer-refer-refuse.xml: the REFER answered `status` (e.g. `405 Method Not Allowed`); '' leaves it unanswered. */
export const referAnswer = (status: string): string => `  <send>
    <![CDATA[
      SIP/2.0 ${status}
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Allow: INVITE, ACK, CANCEL, BYE, OPTIONS
      Content-Length: 0
    ]]>
  </send>`;

/** `{{tail}}` of transfer-refer-refuse.xml: the caller's BYE after `pauseMs` (CSeq 2). */
export const callerBye = (pauseMs: number): string =>
  `  <pause milliseconds="${pauseMs}"/>\n` + SIPP_CALLER_BYE.replace('CSeq: 3 BYE', 'CSeq: 2 BYE').replace('[next_url]', 'sip:[service]@[remote_ip]:[remote_port]');

/** `{{tail}}` of transfer-target.xml: the target hangs up first, after `pauseMs`. */
export const targetBye = (pauseMs: number): string => `  <pause milliseconds="${pauseMs}"/>
  <send retrans="500">
    <![CDATA[
      BYE [$remote_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:target@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To: [$remote_from]
      Call-ID: [call_id]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>`;
