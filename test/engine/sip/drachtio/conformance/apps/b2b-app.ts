/**
 * Port of drachtio-srf's test/scripts/b2b.js: an app (tags `tag1`, `tag2`) that bridges each
 * INVITE to a B leg with `srf.createB2BUA`, in the variants b2b.js exercises. `connected` carries
 * `{uas, uac}`; `failed` and `error` report what the original throws or emits.
 */
import { EventEmitter } from 'node:events';
import type { SipError, SrfApp, SrfDialog, SrfMessage, SrfRequest, SrfResponse } from '../srf-app.js';

type Legs = { uas: SrfDialog; uac: SrfDialog };

/** scripts/crash-signatures.js: the V8 wording of the 3pcc teardown bug the suite guards against. */
export const UAC_DESTROY_CRASH = /uac\.destroy is not a function/;

export class B2bApp extends EventEmitter {
  private constructor(readonly srf: SrfApp) {
    super();
  }

  static async connect(connect: (tags: string[]) => Promise<SrfApp>): Promise<B2bApp> {
    return new B2bApp(await connect(['tag1', 'tag2']));
  }

  /** The common shape: INVITE -> createB2BUA(uri, opts, progress) -> `connected` or `failed`. */
  #bridge(uri: string | object, opts: object | undefined, progress: object | undefined, check?: (legs: Legs) => void): this {
    this.srf.invite((req, res) => {
      this.srf
        .createB2BUA(req, res, uri, opts, progress)
        .then((legs) => {
          check?.(legs);
          this.emit('connected', legs);
        })
        .catch((err: SipError) => this.emit('failed', err, req, res));
    });
    return this;
  }

  expectSuccess(uri: string, opts: object = {}): this {
    return this.#bridge(uri, opts, { cbRequest: () => {}, cpProvisional: () => {} });
  }

  /** b2b.js expectCancel: the B2B must end with 487 (the caller CANCELed). */
  expectCancel(uri: string): this {
    return this.#bridge(uri, undefined, undefined, () => {
      throw new Error('unexpected dialog success - expected CANCEL from uac');
    });
  }

  /** b2b.js expectFailure: B fails with `status`; with `newStatus`, A gets that instead of B's. */
  expectFailure(uri: string, status: number, newStatus?: number): this {
    this.srf.invite((req, res) => {
      this.srf
        .createB2BUA(req, res, uri, newStatus ? { passFailure: false } : {})
        .then(() => this.emit('error', new Error('unexpected dialog success')))
        .catch((err: SipError) => {
          if (err.status !== status) return this.emit('error', err);
          if (newStatus) res.send(newStatus);
          this.emit('failed', err);
        });
    });
    return this;
  }

  /** b2b.js expect3pccUasFailure: a late-offer A leg whose SDP step throws after B answered. */
  expect3pccUasFailure(uri: string): this {
    this.srf.invite((req, res) => {
      const localSdpA = () => {
        throw new Error('simulated SDP/route processing failure on UAS leg');
      };
      this.srf
        .createB2BUA(req, res, uri, { localSdpA })
        .then(() => this.emit('error', new Error('unexpected dialog success - expected UAS leg failure')))
        .catch((err: SipError) => {
          if (UAC_DESTROY_CRASH.test(err.message)) return this.emit('error', err);
          this.emit('failed', err);
          if (!res.finalResponseSent) res.send(480);
        });
    });
    return this;
  }

  /** b2b.js immediateReinviteFromB: B re-INVITEs before A's ACK; relay it to A, answer B. */
  immediateReinviteFromB(uri: string): this {
    return this.#bridge(uri, undefined, undefined, ({ uas, uac }) => {
      uac.on('modify', (req: SrfRequest, res: SrfResponse) => {
        uas.modify(req.body).then(
          (sdp) => res.send(200, { body: sdp }),
          (err: unknown) => this.emit('error', err),
        );
      });
    });
  }

  uriInOpts(uri: string): this {
    return this.#bridge({ uri }, undefined, undefined);
  }

  /** b2b.js passHeaders: Subject copied A -> B and back; cbFinalizedUac must run before success. */
  passHeaders(uri: string): this {
    return this.#passSubject(uri, {});
  }

  passHeadersOnResponse(uri: string, headers: object | ((res: SrfMessage, h: object) => object)): this {
    return this.#passSubject(uri, { responseHeaders: headers });
  }

  #passSubject(uri: string, extra: object): this {
    this.srf.invite((req, res) => {
      const subject = req.get('Subject');
      let finalized = false;
      this.srf
        .createB2BUA(req, res, uri, { proxyRequestHeaders: ['Subject'], proxyResponseHeaders: ['Subject'], ...extra }, {
          cbRequest: (_err: unknown, uacRequest: SrfMessage) => {
            if (uacRequest.get('Subject') !== subject) this.emit('error', new Error('request header not proxied'));
          },
          cbProvisional: (provisional: SrfMessage) => {
            if (provisional.get('Subject') !== subject) this.emit('error', new Error('response header not proxied'));
          },
          cbFinalizedUac: () => (finalized = true),
        })
        .then((legs) => {
          if (!finalized) throw new Error('cbFinalizedUac not called');
          this.emit('connected', legs);
        })
        .catch((err: unknown) => this.emit('error', err));
    });
    return this;
  }

  /** b2b.js sdpAsPromise / sdpAsFunctionReturningString: opts.localSdpA rewrites B's c= line. */
  localSdpA(uri: string, asPromise: boolean): this {
    const rewrite = (sdpB: string) => sdpB.replace(/^c=IN IP4\s(.*)$/gm, 'c=IN IP4 127.0.0.1');
    const localSdpA = asPromise ? (sdpB: string) => Promise.resolve(rewrite(sdpB)) : rewrite;
    return this.#bridge(uri, { localSdpA }, undefined, ({ uas }) => {
      if (!/^c=IN IP4\s(.*)$/m.test(uas.local.sdp)) throw new Error('failed to change sdp');
    });
  }

  disconnect(): void {
    this.srf.disconnect();
  }
}
