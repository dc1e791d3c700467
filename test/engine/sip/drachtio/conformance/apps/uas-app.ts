/**
 * Port of drachtio-srf's test/scripts/uas.js: an app (tag `tag1`) that rejects, answers or
 * accepts SUBSCRIBEs, emitting `connected` with each dialog it creates.
 */
import assert from 'node:assert';
import { EventEmitter } from 'node:events';
import type { SrfApp, SrfDialog, SrfRequest, SrfResponse } from '../srf-app.js';

export class UasApp extends EventEmitter {
  private constructor(readonly srf: SrfApp) {
    super();
  }

  static async connect(connect: (tags: string) => Promise<SrfApp>): Promise<UasApp> {
    return new UasApp(await connect('tag1'));
  }

  reject(code: number, headers?: Record<string, string>): this {
    this.srf.invite((_req, res) => res.send(code, { headers }));
    return this;
  }

  /** `uas.accept(sdp, useBody)`: createUAS with the offer's port changed to 15000. */
  accept(sdp?: string, useBody = false): this {
    this.srf.invite((req, res) => {
      // scripts/uas.js: "validate that req.server properties are in place".
      assert(req.server?.address);
      assert(req.server.hostport);
      req.on('cancel', () => (req.canceled = true));
      const localSdp = sdp ?? req.body.replace(/m=audio\s+(\d+)/, 'm=audio 15000');
      if (req.canceled) return;
      this.srf
        .createUAS(req, res, useBody ? { body: localSdp } : { localSdp })
        .then((uas) => this.emit('connected', uas))
        .catch((err: unknown) => this.emit('error', err));
    });
    return this;
  }

  acceptCb(): this {
    this.srf.invite((req, res) => {
      req.on('cancel', () => (req.canceled = true));
      const localSdp = req.body.replace(/m=audio\s+(\d+)/, 'm=audio 15000');
      if (req.canceled) return;
      this.srf.createUAS(req, res, { localSdp }, (err, uas) => {
        if (err) this.emit('error', err);
        else this.emit('connected', uas);
      });
    });
    return this;
  }

  acceptSubscribe(): this {
    this.srf.subscribe((req, res) => {
      this.srf
        .createUAS(req, res)
        .then((uas) => this.emit('connected', uas))
        .catch((err: unknown) => this.emit('error', err));
    });
    return this;
  }

  /**
   * scripts/uas.js `handleReinviteScenario`: answer, then answer the caller's re-INVITE with 200
   * and SDP; the fnAck callback (run on its ACK) destroys the dialog and resolves.
   */
  handleReinviteScenario(): Promise<SrfRequest> {
    return new Promise((resolve, reject) => {
      this.srf.invite((req, res) => {
        const localSdp = req.body.replace(/m=audio\s+(\d+)/, 'm=audio 15000');
        this.srf
          .createUAS(req, res, { localSdp })
          .then((uas: SrfDialog) => {
            this.emit('connected', uas);
            uas.on('modify', (_reinvite: SrfRequest, reinviteRes: SrfResponse) => {
              reinviteRes.send(200, { body: localSdp }, null, (ack: SrfRequest) => {
                void uas.destroy();
                resolve(ack);
              });
            });
          })
          .catch(reject);
      });
    });
  }

  disconnect(): void {
    this.srf.disconnect();
  }
}
