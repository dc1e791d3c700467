/**
 * Ports of drachtio-srf's test/scripts/refer-b2b.js and refer-uas.js: an attended transfer.
 * refer-b2b (on the SUT) bridges every call to the second server; refer-uas (on that server)
 * answers, and on the second call REFERs it with `Replaces` naming the first. refer-b2b then
 * re-INVITEs the two callers to each other and hangs both up.
 */
import assert from 'node:assert';
import type { SrfApp, SrfDialog, SrfMessage, SrfRequest, SrfResponse } from '../srf-app.js';

/** What the apps did, for the flow to check. */
export interface TransferLog {
  errors: unknown[];
  /** refer-uas: the REFER's final status. */
  referStatus?: number;
  /** refer-b2b: both A legs were re-INVITEd to each other. */
  reinvited?: boolean;
}

/** scripts/refer-b2b.js; `uasServer` stands for the docker address 172.29.0.19. */
export function referB2b(srf: SrfApp, uasServer: string, log: TransferLog): void {
  srf.use('invite', (req, res) => {
    srf
      .createB2BUA(req, res, uasServer)
      .then(({ uas, uac }) => {
        uac.on('refer', (refer: SrfRequest, referRes: SrfResponse) => {
          referRes.send(202);
          void transfer(srf, uas, refer).then(
            () => (log.reinvited = true),
            (err: unknown) => log.errors.push(err),
          );
        });
      })
      .catch((err: unknown) => log.errors.push(err));
  });
}

async function transfer(srf: SrfApp, uas: SrfDialog, refer: SrfMessage): Promise<void> {
  // "find the other dialog"
  const referTo = decodeURIComponent(refer.get('Refer-To'));
  const arr = /\?Replaces=(.*);from-tag=(.*);to-tag=(.*)/.exec(referTo);
  assert(arr, `no Replaces in Refer-To ${referTo}`);
  const transferee = srf.findDialogByCallIDAndFromTag(arr[1]!, arr[2]!);
  assert(transferee, `no dialog for Call-ID ${arr[1]} and From tag ${arr[2]}`);
  const other = transferee.other;
  assert(other);
  // "reinvite both to each other"
  await other.modify(uas.remote.sdp);
  await uas.modify(other.remote.sdp);
  void uas.destroy();
  void other.destroy();
}

/** scripts/refer-uas.js. */
export function referUas(srf: SrfApp, log: TransferLog): void {
  let count = 0;
  let referTo = '';
  srf.use('invite', (req, res) => {
    void srf.createUAS(req, res, { localSdp: req.body }).then((uas) => {
      count += 1;
      if (count === 1) {
        const from = req.getParsedHeader('From') as { params: { tag: string } };
        const replaces = encodeURIComponent(`Replaces=${req.get('Call-ID')};from-tag=${from.params.tag};to-tag=foobar`);
        referTo = `sip:foo@bar?${replaces}`;
      } else if (count === 2) {
        // refer-uas.js then waits for a 'response' event on what Dialog#request resolves with,
        // which is already the response: that handler never runs, and the dialog stays up.
        setTimeout(() => {
          uas.request({ method: 'REFER', headers: { 'Refer-To': referTo } }).then(
            (response) => (log.referStatus = response.status),
            (err: unknown) => log.errors.push(err),
          );
        }, 2000);
      }
    }, (err: unknown) => log.errors.push(err));
  });
}
