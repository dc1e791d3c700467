/**
 * Call commands: what a client may ask of a live call, carried out by one function for both
 * surfaces (the WebSocket's command frames and the REST actions under `/api/v1/calls/{id}/…`).
 * Each checks, in order: the caller may control calls (owner, admin or member; `calls:write`
 * for scoped keys), the call is one of the caller's tenant and mode (another tenant's call
 * answers `not_found`, as everywhere), the call is live, then acts.
 *
 * `hangup` ends a live call through call control (BYE, end reason `api_hangup`). `say`, `dtmf`,
 * `mute` and `transfer` go to the agent runtime that drives the call (`Call.actions`): a call
 * with none answers `conflict`, and so does an action the runtime refuses (`CallActionRefused`,
 * its message passed on). Nothing answers a pretend success.
 */
import { CallActionRefused, type CallActions } from '../../engine/calls/call.js';
import type { Store } from '../../engine/store/store.js';
import { authorize } from '../http/authorize.js';
import { AppError } from '../http/errors.js';
import type { AuthContext } from '../http/route.js';
import { editors } from '../routes/access.js';

export const commandAccess = { roles: editors, scope: 'calls:write' } as const;

/** One command on one call, as either surface states it. */
export type CallCommand =
  | { type: 'hangup'; callId: string }
  | { type: 'say'; callId: string; text: string; interrupt?: boolean | undefined }
  | { type: 'dtmf'; callId: string; digits: string }
  | { type: 'mute'; callId: string; muted: boolean }
  | { type: 'transfer'; callId: string; target: string };

export interface CommandDeps {
  store: Store;
  /** Ends a live call; false when the call is not live (ended, or being ended). */
  hangup(callId: string): boolean;
  /**
   * The live call's actions: `undefined` when the call is not live (ended, or not carried by
   * this engine), `null` when it is live but no agent runtime drives it.
   */
  actions(callId: string): CallActions | null | undefined;
}

/** What a carried-out command answers (WebSocket `reply` result, REST 202 body). */
export interface CommandResult {
  callId: string;
  accepted: true;
}

/** Carries out one command, or throws the AppError to answer with. */
export function runCommand(deps: CommandDeps, auth: AuthContext, cmd: CallCommand): CommandResult {
  authorize(auth, commandAccess);
  const call = deps.store.calls.get(auth, cmd.callId);
  if (!call) throw new AppError('not_found', 'Call not found');
  const notLive = () => new AppError('conflict', `Call is not live (${call.status})`);
  if (cmd.type === 'hangup') {
    if (!deps.hangup(call.id)) throw notLive();
    return { callId: call.id, accepted: true };
  }
  const actions = deps.actions(call.id);
  if (actions === undefined) throw notLive();
  if (actions === null) throw new AppError('conflict', `Call has no agent runtime to carry out ${cmd.type}`);
  try {
    act(actions, cmd);
  } catch (err) {
    if (err instanceof CallActionRefused) throw new AppError('conflict', err.message);
    throw err;
  }
  return { callId: call.id, accepted: true };
}

/** Hands one command to the runtime's actions. */
function act(actions: CallActions, cmd: Exclude<CallCommand, { type: 'hangup' }>): void {
  switch (cmd.type) {
    case 'say':
      return actions.say(cmd.text, { interrupt: cmd.interrupt ?? false });
    case 'dtmf':
      return actions.sendDtmf(cmd.digits);
    case 'mute':
      return actions.setMuted(cmd.muted);
    case 'transfer':
      return actions.transfer(cmd.target);
  }
}
