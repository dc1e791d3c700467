/**
 * The steps of an admitted inbound call, in order: a media leg, ring, answer, wire the dialog,
 * take the answer to a late offer, the agent (agent-step.ts, shared with outbound calls). Each says what it needs and stops when the call ends
 * (its signal aborts); none checks `call.ended` after an await.
 */
import type Srf from 'drachtio-srf';
import { NoCommonCodecError, SdpError } from '../../media/errors.js';
import type { CallLeg } from '../../media/call-leg.js';
import { sleep, StepAborted, untilAborted, type CallStep } from './call-steps.js';
import { takeAnswer, wireDialog } from './in-dialog.js';
import type { InboundDeps } from './inbound-call.js';
import type { TimerPlan } from './session-timer.js';
import { agentStep, type AgentStepContext } from './agent-step.js';
import { agentCodecPreference } from './codec-choice.js';
import { endWithLeg, recordAnswered } from './call-end.js';

/** What the steps of one inbound call share. */
export interface InboundContext extends AgentStepContext {
  deps: InboundDeps;
  req: Srf.SrfRequest;
  res: Srf.SrfResponse;
  /** The session timer settled before the call existed (RFC 4028). */
  timer: Exclude<TimerPlan, { kind: 'reject' }>;
  /** An INVITE without SDP (RFC 3261 §13.2.1): we offer in the 200, the ACK answers. */
  lateOffer: boolean;
  /** RFC 3262 §3: with 100rel required, a 180 would have to be reliable; the call rings silently. */
  silentRing: boolean;
  /** Sends a final refusal to the INVITE (and its log line). */
  reject(status: number, why: string, headers?: Record<string, string>): void;
  dialog?: Srf.Dialog;
}

/** 5. Media: a leg that answers the caller's offer, or offers in our 200 for a late offer. */
const media: CallStep<InboundContext> = {
  name: 'media',
  needs: ['unanswered'],
  async run(ctx, signal) {
    const { deps, call, log } = ctx;
    const prefer = agentCodecPreference(deps.store, ctx.scope, ctx.agent, ctx.workflow);
    const opts = { inactivityMs: deps.settings.inactivityTimeoutMs, id: call.id, log, prefer };
    let leg: CallLeg;
    try {
      leg = await untilAborted(deps.media.createLeg(ctx.lateOffer ? null : ctx.req.body, opts), signal, (l) => l.close('call ended'));
    } catch (err) {
      mediaFailed(ctx, err);
      return;
    }
    ctx.leg = leg;
    call.parts.leg = leg;
    leg.on('inactive', () => call.hangup('rtp_timeout'));
    endWithLeg(call, leg, 'caller');
  },
};

/** A leg that could not be made: the caller's SDP (488, 400) or our media (503). */
function mediaFailed(ctx: InboundContext, err: unknown): void {
  const { call, deps, log } = ctx;
  if (err instanceof StepAborted) throw err;
  if (err instanceof NoCommonCodecError) {
    ctx.reject(488, 'no common codec', { Warning: '305 agent-studio "Incompatible media format"' });
    call.hangup('no_common_codec');
  } else if (err instanceof SdpError) {
    ctx.reject(400, 'bad SDP');
    call.hangup('bad_sdp');
  } else {
    log.error({ err }, 'media leg failed');
    // Not the caller's doing and invisible in SIP: the tenant sees it next to the call.
    deps.store.errorLogs.record({ ...ctx.scope, kind: 'media', code: '503', message: `media unavailable: ${(err as Error).message}`, details: { sipCallId: call.identity.sipCallId } });
    ctx.reject(503, 'media unavailable', { 'Retry-After': '5' });
    call.hangup('media_error');
  }
}

/** 6. Ring for `ringMs` (180, or silently under 100rel), when ringing is configured. */
const ring: CallStep<InboundContext> = {
  name: 'ring',
  needs: ['unanswered', 'leg'],
  async run(ctx, signal) {
    const { deps, call } = ctx;
    if (deps.settings.ringMs <= 0) return;
    if (ctx.silentRing) call.transition('ringing', 'ringing without 180 (100rel required)');
    else {
      ctx.res.send(180);
      call.transition('ringing', '180 sent');
    }
    deps.events.append('call.ringing', ctx.scope, { callId: call.id, agentId: call.identity.agentId });
    await sleep(deps.settings.ringMs, signal);
  },
};

/** 7. Answer: 200 with our SDP; the call is answered when drachtio-srf has sent it. */
const answer: CallStep<InboundContext> = {
  name: 'answer',
  needs: ['unanswered', 'leg'],
  async run(ctx, signal) {
    const { deps, call, log, timer } = ctx;
    const leg = ctx.leg!;
    // Written before the 200 leaves: a crash before markAnswered below must not lose the answer.
    deps.store.calls.markAnswerSent(call.id);
    const uas = deps.srf.createUAS(ctx.req, ctx.res, {
      localSdp: ctx.lateOffer ? leg.offerSdp() : leg.answerSdp,
      headers: timer.kind === 'timer' ? timer.headers : {},
    });
    try {
      ctx.dialog = await untilAborted(uas, signal, (d) => d.destroy());
      call.parts.dialog = ctx.dialog;
    } catch (err) {
      if (err instanceof StepAborted) throw err;
      log.warn({ err: (err as Error).message }, 'answer failed');
      call.hangup('media_error');
      return;
    }
    call.transition('answered', '200 sent');
    recordAnswered(deps, call);
  },
};

/** 8. The dialog's life: BYE either way, ACK timeout, re-INVITE, UPDATE, session timer. */
const wire: CallStep<InboundContext> = {
  name: 'wire dialog',
  needs: ['answered', 'leg', 'dialog'],
  run(ctx) {
    wireDialog(ctx.call, ctx.dialog!, ctx.leg!, ctx.timer.kind === 'timer' ? ctx.timer : undefined);
  },
};

/** 9. A late offer's answer comes in the ACK. */
const lateAnswer: CallStep<InboundContext> = {
  name: 'late-offer answer',
  needs: ['answered', 'leg', 'dialog'],
  run(ctx) {
    if (ctx.lateOffer) takeAnswer(ctx.call, ctx.dialog!, ctx.leg!, ctx.log);
  },
};

/** An inbound call's steps, in order. */
export const inboundSteps: readonly CallStep<InboundContext>[] = [media, ring, answer, wire, lateAnswer, agentStep];
