/**
 * The steps of an outbound call the dialer took from its queue: for a call to a SIP user, every
 * binding of the user rung at once (a leg each, the first to answer winning); else a media leg that offers, the INVITE at the line's next
 * calls-per-second slot (ringing at the first 180/183, early media from a 183 with SDP), the
 * answer, the dialog's life, and the agent (the same step as inbound calls). Each says what it
 * needs and stops when the call ends (its signal aborts).
 */
import type Srf from 'drachtio-srf';
import type { Logger } from '../../config/logger.js';
import { NoCommonCodecError } from '../../media/errors.js';
import type { MediaService } from '../../media/media-service.js';
import type { CallLeg } from '../../media/call-leg.js';
import type { CodecPreference } from '../../media/sdp/types.js';
import type { AgentRuntime } from '../agents/runtime/runtime.js';
import type { EventLog } from '../events/event-log.js';
import type { Store } from '../store/store.js';
import { agentStep, type AgentStepContext } from './agent-step.js';
import { endWithLeg, recordAnswered } from './call-end.js';
import { agentCodecPreference } from './codec-choice.js';
import type { EndReason } from './call-record.js';
import { StepAborted, StepPreconditionError, untilAborted, type CallStep } from './call-steps.js';
import { dial } from './dial.js';
import { destroyDialog, wireDialog } from './in-dialog.js';
import type { SipTrunk } from '../store/repositories/sip-trunks.js';
import { userBindings, type BindingSource } from './registrar/user-target.js';
import { mediaOfBinding, type Binding } from './registrar/bindings.js';
import { dialBindings } from './registrar/user-dial.js';
import type { ResolvedTarget } from './transfer-target.js';

/** What outbound calls need of the engine. */
export interface OutboundDeps {
  srf: Srf;
  log: Logger;
  store: Store;
  events: EventLog;
  media: MediaService;
  agents?: AgentRuntime;
  /** Where the tenants' SIP users are registered (absent: calls to them end `not_registered`). */
  registrar?: BindingSource;
  settings: { inactivityTimeoutMs: number };
}

/**
 * Whom the call goes to: a number or URI on a trunk's gateway (resolved there), or a SIP user of
 * the tenant, whose binding is looked up when the call leaves its queue (the user may register,
 * move or go between the request and the INVITE).
 */
export type Callee = { kind: 'trunk'; trunk: SipTrunk; target: ResolvedTarget } | { kind: 'user'; sipUserId: string; aor: string };

/** What the steps of one outbound call share. */
export interface OutboundContext extends AgentStepContext {
  deps: OutboundDeps;
  callee: Callee;
  /** Where the INVITE goes: known at once for a trunk call, found by `locate` for a user call. */
  target?: ResolvedTarget;
  /** A SIP user's bindings, newest first, found by `locate`: every one rings (`ringUser`). */
  bindings?: readonly Binding[];
  /** The From user (caller id), or null for drachtio's default. */
  callingNumber: string | null;
  /** The request's `X-` headers, sent on the INVITE. */
  headers: Record<string, string>;
  ringMs: number;
  /**
   * Resolves when the INVITE may leave (the trunk's next CPS slot after the last INVITE sent),
   * to a function to run once it has left (or will not).
   */
  pace(signal: AbortSignal): Promise<() => void>;
  dialog?: Srf.Dialog;
  /** The final SIP status the far end sent, once one came. */
  sipCode: number | null;
}

/** A far end's final refusal, as the call's end: RFC 3261 §21.4.7 / §21.6.1 busy, §21.4.9 / §21.4.18 no answer. */
export function refusalEnd(status: number): { reason: EndReason; hangupBy: 'callee' } {
  if (status === 486 || status === 600) return { reason: 'busy', hangupBy: 'callee' };
  if (status === 408 || status === 480) return { reason: 'no_answer', hangupBy: 'callee' };
  return { reason: 'rejected', hangupBy: 'callee' };
}

/**
 * 0. A call to a SIP user: its bindings (user-target.ts), looked up as the call leaves its queue.
 * No binding ends the call `not_registered` (status failed).
 */
const locate: CallStep<OutboundContext> = {
  name: 'locate user',
  needs: ['unanswered'],
  run(ctx) {
    const { deps, call, log } = ctx;
    if (ctx.callee.kind !== 'user') return;
    const found = userBindings(ctx.callee.aor, call.identity, deps.registrar);
    if (!found || 'error' in found) {
      log.info({ aor: ctx.callee.aor, why: found?.error ?? 'no such user' }, 'SIP user not reached');
      call.end({ reason: 'not_registered', hangupBy: 'system' });
      return;
    }
    log.info({ aor: ctx.callee.aor, bindings: found.map((b) => ({ contact: b.contact, transport: b.flow.protocol, media: mediaOfBinding(b) })) }, 'SIP user located');
    ctx.bindings = found;
  },
};

/** A browser callee's codecs: Opus first when the call's agent keeps the call to itself (codec-choice.ts). */
function browserCodecs(ctx: OutboundContext): CodecPreference {
  return agentCodecPreference(ctx.deps.store, ctx.scope, ctx.agent, ctx.workflow);
}

/** 1. Media: a leg that offers (we send the SDP offer in the INVITE): plain RTP (PCMU/PCMA) for a trunk. */
const media: CallStep<OutboundContext> = {
  name: 'media',
  needs: ['unanswered'],
  async run(ctx, signal) {
    const { deps, call, log } = ctx;
    const opts = { inactivityMs: deps.settings.inactivityTimeoutMs, id: call.id, log };
    let leg: CallLeg;
    try {
      const made: Promise<CallLeg> = deps.media.createSipLeg(null, opts);
      leg = await untilAborted(made, signal, (l) => l.close('call ended'));
    } catch (err) {
      if (err instanceof StepAborted) throw err;
      log.error({ err }, 'media leg failed');
      deps.store.errorLogs.record({ ...ctx.scope, kind: 'media', code: null, message: `media unavailable: ${(err as Error).message}`, details: {} });
      call.end({ reason: 'dial_error', hangupBy: 'system' });
      return;
    }
    ctx.leg = leg;
    call.parts.leg = leg;
    endWithLeg(call, leg, 'callee');
  },
};

/**
 * 2. The INVITE, at the trunk's CPS slot. The first 180 or 183 makes the call ringing; a 183
 * with SDP is the far end's answer taken early (RFC 3960 "gateway model"): the leg sends to and
 * hears from the far end before the 200, so the agent side hears its early audio (ringback,
 * announcements). The 200's SDP is applied again (normally the same answer).
 */
const invite: CallStep<OutboundContext> = {
  name: 'invite',
  needs: ['unanswered', 'leg'],
  async run(ctx, signal) {
    const { deps, call, log } = ctx;
    const leg = ctx.leg!;
    const target = ctx.target;
    if (!target) throw new StepPreconditionError('invite', 'target');
    const sent = await ctx.pace(signal);
    const onSent = (sipCallId: string) => {
      sent();
      deps.store.calls.setSipCallId(call.id, sipCallId);
      log.debug({ sipCallId }, 'INVITE sent');
    };
    let early = false;
    const onProvisional = ({ status, body }: { status: number; body: string }) => {
      if (status !== 180 && status !== 183) return;
      markRinging(ctx, status);
      if (!early && body.trim()) {
        early = true;
        leg.updateRemote(body).then(
          () => log.info({ status }, 'early media'),
          (err: unknown) => log.info({ err: (err as Error).message }, 'early media SDP refused'),
        );
      }
    };
    const dialed = await dial(deps.srf, signal, { offer: leg.offerSdp(), target, ringMs: ctx.ringMs, callingNumber: ctx.callingNumber, headers: ctx.headers, onProvisional, onSent }, log);
    sent();
    if (dialed.kind === 'failed') return failed(ctx, signal, dialed);
    await takeAnswer(ctx, leg, dialed.dialog);
  },
};

/** The INVITE was not answered: the call's end says why (or the call ended first). */
function failed(ctx: OutboundContext, signal: AbortSignal, dialed: { reason: string; status: number | null }): void {
  if (signal.aborted) throw new StepAborted(signal.reason);
  ctx.sipCode = dialed.status;
  if (dialed.reason === 'no_answer') ctx.call.end({ reason: 'no_answer', hangupBy: 'system' });
  else if (dialed.status) ctx.call.end(refusalEnd(dialed.status));
  else ctx.call.end({ reason: 'dial_error', hangupBy: 'system' });
}

/** The 200's answer applied to the leg; an answer it cannot take hangs up. */
async function takeAnswer(ctx: OutboundContext, leg: CallLeg, dialog: Srf.Dialog): Promise<void> {
  const { call, log } = ctx;
  ctx.sipCode = 200;
  try {
    await leg.updateRemote(dialog.remote.sdp ?? '');
  } catch (err) {
    log.info({ err: (err as Error).message }, 'answer SDP refused');
    destroyDialog(dialog, log);
    call.hangup(err instanceof NoCommonCodecError ? 'no_common_codec' : 'bad_sdp');
    return;
  }
  ctx.dialog = dialog;
  call.parts.dialog = dialog;
}

/** The first 180 or 183 makes the call ringing. */
function markRinging(ctx: OutboundContext, status: number): void {
  const { deps, call } = ctx;
  if (call.state !== 'trying') return;
  call.transition('ringing', `${status} received`);
  deps.events.transaction(() => {
    deps.store.calls.markRinging(call.id);
    deps.events.append('call.ringing', ctx.scope, { callId: call.id, agentId: call.identity.agentId });
  });
}

/**
 * 1-2 of a call to a SIP user: every binding rings at once (registrar/user-dial.ts), each from a
 * leg of its own: a WebRtcLeg (ICE-lite, DTLS-SRTP; Opus first when the agent keeps the call,
 * codec-choice.ts) for a browser's binding, plain RTP for a device. The INVITEs go to the
 * bindings' Contacts as registered, down the flows they came on (a WebSocket client's `*.invalid`
 * Contact host is an alias of its socket). The first 2xx wins: its leg is the call's, the other
 * branches are CANCELed and their legs closed; when none answers, the best refusal ends the call
 * (user-fork.ts `bestFailure`). The record's Call-ID is the winner's (the first INVITE's till then).
 */
const ringUser: CallStep<OutboundContext> = {
  name: 'ring user',
  needs: ['unanswered'],
  async run(ctx, signal) {
    const { deps, call, log } = ctx;
    const bindings = ctx.bindings;
    if (!bindings) throw new StepPreconditionError('ring user', 'bindings');
    const opts = (i: number) => ({ inactivityMs: deps.settings.inactivityTimeoutMs, id: bindings.length > 1 ? `${call.id}:${i}` : call.id, log });
    const sent = await ctx.pace(signal);
    const dialed = await dialBindings(
      deps.srf,
      signal,
      {
        bindings,
        makeLeg: (b, i) => (mediaOfBinding(b) === 'webrtc' ? deps.media.createWebRtcLeg(null, { ...opts(i), prefer: browserCodecs(ctx) }) : deps.media.createSipLeg(null, opts(i))),
        offerOf: (leg) => leg.offerSdp(),
        ringMs: ctx.ringMs,
        callingNumber: ctx.callingNumber,
        headers: ctx.headers,
        onRinging: () => markRinging(ctx, 180),
        onSent: (sipCallId) => {
          sent();
          if (sipCallId) deps.store.calls.setSipCallId(call.id, sipCallId);
        },
      },
      log,
    );
    sent();
    if (dialed.kind === 'failed') {
      if (dialed.reason === 'media_unavailable' && !signal.aborted) {
        deps.store.errorLogs.record({ ...ctx.scope, kind: 'media', code: null, message: 'media unavailable: no leg for any binding', details: {} });
        call.end({ reason: 'dial_error', hangupBy: 'system' });
        return;
      }
      return failed(ctx, signal, dialed);
    }
    if (call.ended) {
      destroyDialog(dialed.dialog, log);
      dialed.leg.close('call ended');
      throw new StepAborted('call ended');
    }
    log.info({ contact: dialed.binding.contact, media: dialed.leg.kind }, 'a binding answered');
    ctx.leg = dialed.leg;
    call.parts.leg = dialed.leg;
    endWithLeg(call, dialed.leg, 'callee');
    const sipCallId = (dialed.dialog as Srf.Dialog & { sip?: { callId?: string } }).sip?.callId;
    if (sipCallId) deps.store.calls.setSipCallId(call.id, sipCallId);
    await takeAnswer(ctx, dialed.leg, dialed.dialog);
  },
};

/** 3. Answered: the 200 was received and ACKed (drachtio-srf sends the ACK). */
const answered: CallStep<OutboundContext> = {
  name: 'answered',
  needs: ['unanswered', 'leg', 'dialog'],
  run(ctx) {
    const { deps, call } = ctx;
    call.transition('answered', '200 received');
    recordAnswered(deps, call);
  },
};

/** 4. The dialog's life: the callee's BYE, re-INVITE, UPDATE (no session timer of ours). */
const wire: CallStep<OutboundContext> = {
  name: 'wire dialog',
  needs: ['answered', 'leg', 'dialog'],
  run(ctx) {
    // Watched from the answer only: a ring without early media is no RTP timeout (the ring timeout
    // applies), and the leg's activity clock restarted with the 200's answer.
    ctx.leg!.on('inactive', () => ctx.call.hangup('rtp_timeout'));
    wireDialog(ctx.call, ctx.dialog!, ctx.leg!, undefined, 'callee');
  },
};

/** An outbound call's steps, in order; the last is the inbound calls' own agent step. */
export const outboundSteps: readonly CallStep<OutboundContext>[] = [media, invite, answered, wire, agentStep];

/** A call to a SIP user: its bindings found and rung, then the same steps from the answer. */
export const userCallSteps: readonly CallStep<OutboundContext>[] = [locate, ringUser, answered, wire, agentStep];
