/**
 * The dialogs a UA holds (RFC 3261 §12), found by dialog id for requests received within a
 * dialog (§12.2.2: To tag = local tag, From tag = remote tag) and for responses to requests we
 * sent (From tag = local tag, To tag = remote tag).
 */
import type { Logger } from '../../../config/logger.js';
import { TypedEmitter } from '../../../lib/typed-emitter.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import { dialogKey, type Dialog, type DialogId } from './dialog.js';

interface DialogTableEvents extends Record<string, unknown[]> {
  created: [dialog: Dialog];
  confirmed: [dialog: Dialog];
  terminated: [dialog: Dialog, reason: string];
}

export class DialogTable extends TypedEmitter<DialogTableEvents> {
  readonly #dialogs = new Map<string, Dialog>();
  /** Dialogs by Call-ID: every new INVITE asks (is it a retransmission of one we answered?). */
  readonly #byCallId = new Map<string, Set<Dialog>>();

  constructor(private readonly log: Logger) {
    super((event, error) => log.error({ err: error, event }, 'dialog table listener failed'));
  }

  get size(): number {
    return this.#dialogs.size;
  }

  /** Every dialog, oldest first. */
  all(): Dialog[] {
    return [...this.#dialogs.values()];
  }

  get(id: DialogId): Dialog | undefined {
    return this.#dialogs.get(dialogKey(id));
  }

  /** Dialogs of one call (several after forking). */
  byCallId(callId: string): Dialog[] {
    const set = this.#byCallId.get(callId);
    return set ? [...set] : [];
  }

  /** Adds a dialog; one with the same id is replaced. */
  add(dialog: Dialog): Dialog {
    const old = this.#dialogs.get(dialog.key);
    if (old && old !== dialog) this.remove(old, 'replaced');
    this.#dialogs.set(dialog.key, dialog);
    let set = this.#byCallId.get(dialog.id.callId);
    if (!set) this.#byCallId.set(dialog.id.callId, (set = new Set()));
    set.add(dialog);
    dialog.on('statechange', (to) => {
      if (to === 'confirmed') this.emit('confirmed', dialog);
    });
    if (this.log.isLevelEnabled('debug')) this.log.debug({ dialog: dialog.toJSON() }, 'dialog created');
    this.emit('created', dialog);
    return dialog;
  }

  /** The dialog a received request belongs to (§12.2.2), if any. */
  matchRequest(req: SipRequest): Dialog | undefined {
    const local = req.toTag;
    if (local === null) return undefined;
    return this.#dialogs.get(dialogKey({ callId: req.callId, localTag: local, remoteTag: req.fromTag ?? '' }));
  }

  /** The dialog a response to our request belongs to, if any. */
  matchResponse(res: SipResponse): Dialog | undefined {
    const local = res.fromTag;
    const remote = res.toTag;
    if (local === null || remote === null) return undefined;
    return this.#dialogs.get(dialogKey({ callId: res.callId, localTag: local, remoteTag: remote }));
  }

  /** Ends a dialog and forgets it. Idempotent. */
  remove(dialog: Dialog, reason: string): void {
    if (this.#dialogs.get(dialog.key) === dialog) this.#dialogs.delete(dialog.key);
    const set = this.#byCallId.get(dialog.id.callId);
    if (set?.delete(dialog) && set.size === 0) this.#byCallId.delete(dialog.id.callId);
    if (dialog.state === 'terminated') return;
    dialog.transition('terminated', reason);
    if (this.log.isLevelEnabled('debug')) this.log.debug({ dialog: dialog.toJSON(), reason }, 'dialog terminated');
    this.emit('terminated', dialog, reason);
  }

  /** Removes the early dialogs of an INVITE that failed (§13.2.2.3: a non-2xx final ends them). */
  removeEarly(callId: string, localTag: string, reason: string): void {
    for (const d of this.byCallId(callId)) {
      if (d.state === 'early' && d.id.localTag === localTag) this.remove(d, reason);
    }
  }

  /** Ends every dialog. */
  close(): void {
    for (const d of this.all()) this.remove(d, 'stack closing');
    this.removeAllListeners();
  }
}
