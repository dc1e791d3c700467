/**
 * A carrier calling one of the tenant's numbers through the test trunk (SIPp over UDP, allow-listed
 * by address), with test/engine/calls/scenarios/trunk-user-call.xml: the INVITE from +15550100 with
 * a plain RTP PCMU offer at the test's RTP peer, then an outcome built here.
 */
import { scenario, sippCall, type InboundSetup } from './inbound.js';
import type { RtpPeer } from './rtp-peer.js';
import type { SippResult } from './sipp.js';

/** The carrier answered: 180, 200, its ACK, then `tail`. */
export const trunkAnswered = (number: string, tail: string): string => `  <recv response="180" timeout="15000"/>
  <recv response="200" rrs="true" timeout="15000"/>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:+15550100@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: <sip:${number}@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
${tail}`;

/** The carrier's BYE after `pauseMs`, answered 200. */
export const trunkCallerBye = (number: string, pauseMs: number): string => `  <pause milliseconds="${pauseMs}"/>
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:+15550100@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: <sip:${number}@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>`;

/** The carrier refused with `status` (after an optional 180), and its ACK. */
export const trunkRefused = (number: string, status: number): string => `  <recv response="180" optional="true"/>
  <recv response="${status}" timeout="15000"/>
  <send>
    <![CDATA[

      ACK sip:${number}@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: sipp <sip:+15550100@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>`;

/** The carrier's CANCEL after the 180, answered 200, then the 487 and its ACK. */
export const trunkCancels = (number: string): string => `  <recv response="180" timeout="15000"/>
  <send>
    <![CDATA[

      CANCEL sip:${number}@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: sipp <sip:+15550100@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: <sip:${number}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
${trunkRefused(number, 487).replace('  <recv response="180" optional="true"/>\n', '')}`;

/** SIPp as the carrier calling `number`, its media at `rtp`'s port, then `outcome`. */
export function carrierCalls(s: InboundSetup, number: string, rtp: RtpPeer, outcome: string): Promise<SippResult> {
  return sippCall(s, scenario('trunk-user-call.xml', { outcome, number, rtpPort: rtp.port }), { timeoutSeconds: 40 });
}
