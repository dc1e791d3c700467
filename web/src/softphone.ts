/**
 * The softphone's call: sip.js (bundled) over SIP-over-WebSocket to the engine, with the
 * credentials `POST /api/v1/calls/web` grants. State is one value from a small table of moves;
 * each change is reported to the page.
 *
 * DTMF goes as RFC 4733 telephone-events through the RTCDTMFSender of the audio sender; when the
 * browser has none (no negotiated telephone-event), as SIP INFO `application/dtmf-relay`.
 */
import { Inviter, SessionState, UserAgent, type Session } from 'sip.js';
import type { Web } from 'sip.js';
import type { WebCallGrant } from './types';

export type PhoneState = 'idle' | 'requesting' | 'connecting' | 'ringing' | 'in_call' | 'ending' | 'ended';

/** Legal moves; anything else is ignored (a late event after the end). */
const moves: Record<PhoneState, PhoneState[]> = {
  idle: ['requesting'],
  requesting: ['connecting', 'ended'],
  connecting: ['ringing', 'in_call', 'ending', 'ended'],
  ringing: ['in_call', 'ending', 'ended'],
  in_call: ['ending', 'ended'],
  ending: ['ended'],
  ended: [],
};

export interface PhoneCallEvents {
  state(s: PhoneState, reason: string | null): void;
  /** The microphone and the remote audio, once the call has media. */
  media(local: MediaStream, remote: MediaStream, pc: RTCPeerConnection): void;
}

export class PhoneCall {
  #state: PhoneState = 'idle';
  #ua: UserAgent | null = null;
  #session: Session | null = null;
  #reason: string | null = null;

  constructor(private readonly on: PhoneCallEvents) {}

  get state(): PhoneState {
    return this.#state;
  }

  #to(s: PhoneState, reason: string | null = null): void {
    if (!moves[this.#state].includes(s)) return;
    this.#state = s;
    if (reason) this.#reason ??= reason;
    this.on.state(s, s === 'ended' ? (this.#reason ?? 'ended') : null);
    if (s === 'ended') void this.#ua?.stop().catch(() => undefined);
  }

  /** Asked for the grant: the page calls this before the API request. */
  requesting(): void {
    this.#to('requesting');
  }

  /** The grant request failed: the call ends before it began. */
  failed(reason: string): void {
    this.#to('ended', reason);
  }

  async start(grant: WebCallGrant): Promise<void> {
    const uri = UserAgent.makeURI(grant.sip.uri);
    const target = UserAgent.makeURI(grant.target);
    if (!uri || !target) return this.#to('ended', 'the engine sent an unusable SIP address');
    this.#to('connecting');
    const ua = new UserAgent({
      uri,
      transportOptions: { server: grant.websocketUrl, traceSip: false },
      authorizationUsername: grant.sip.username,
      authorizationPassword: grant.sip.password,
      logLevel: 'error',
      sessionDescriptionHandlerFactoryOptions: { peerConnectionConfiguration: { iceServers: grant.iceServers } },
      delegate: { onDisconnect: (e) => e && this.#to('ended', `the SIP WebSocket closed (${e.message})`) },
    });
    this.#ua = ua;
    try {
      await ua.start();
    } catch (e) {
      return this.#to('ended', `could not reach the SIP WebSocket (${e instanceof Error ? e.message : String(e)})`);
    }
    if (this.#state !== 'connecting') return;
    const inviter = new Inviter(ua, target, { sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } } });
    this.#session = inviter;
    inviter.delegate = { onBye: () => (this.#reason ??= 'the other side hung up') };
    inviter.stateChange.addListener((s) => {
      if (s === SessionState.Established) {
        this.#to('in_call');
        const sdh = inviter.sessionDescriptionHandler as Web.SessionDescriptionHandler | undefined;
        if (sdh?.peerConnection) this.on.media(sdh.localMediaStream, sdh.remoteMediaStream, sdh.peerConnection);
      } else if (s === SessionState.Terminating) this.#to('ending');
      else if (s === SessionState.Terminated) this.#to('ended', 'ended');
    });
    try {
      await inviter.invite({
        requestDelegate: {
          onProgress: (r) => r.message.statusCode === 180 || r.message.statusCode === 183 ? this.#to('ringing') : undefined,
          onReject: (r) => (this.#reason ??= `refused: ${r.message.statusCode} ${r.message.reasonPhrase}`),
        },
      });
    } catch (e) {
      this.#to('ended', `the call could not start (${e instanceof Error ? e.message : String(e)})`);
    }
  }

  /** Hang up: CANCEL while ringing, BYE once answered. */
  hangup(): void {
    this.#reason ??= 'you hung up';
    const s = this.#session;
    if (!s || this.#state === 'requesting') return this.#to('ended');
    this.#to('ending');
    const done = () => this.#to('ended');
    if (s.state === SessionState.Established) s.bye().catch(done);
    else if (s instanceof Inviter && s.state === SessionState.Establishing) s.cancel().catch(done);
    else done();
  }

  /** One key: RFC 4733 through RTCDTMFSender, else SIP INFO. Returns the way it went. */
  async dtmf(key: string): Promise<'rtp' | 'info' | null> {
    const s = this.#session;
    if (!s || this.#state !== 'in_call') return null;
    const sdh = s.sessionDescriptionHandler as Web.SessionDescriptionHandler | undefined;
    if (sdh?.sendDtmf(key, { duration: 160, interToneGap: 70 })) return 'rtp';
    await s.info({
      requestOptions: { body: { contentDisposition: 'render', contentType: 'application/dtmf-relay', content: `Signal=${key}\r\nDuration=160` } },
    });
    return 'info';
  }
}
