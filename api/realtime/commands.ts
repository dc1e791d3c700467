/**
 * Call commands sent over the WebSocket. Each checks, in order: the caller may control calls
 * (owner, admin or member; `calls:write` for scoped keys), the call is one of the caller's tenant
 * and mode (another tenant's call answers `not_found`, as everywhere), then acts.
 *
 * `hangup` ends a live call through call control (BYE, end reason `api_hangup`). `say`,
 * `transfer`, `dtmf` and `mute` need the agent runtime and outbound legs, which this version does
 * not have: they answer `not_implemented`, never a pretend success.
 */
import type { Store } from '../../engine/store/store.js';
import { authorize } from '../http/authorize.js';
import { AppError } from '../http/errors.js';
import type { AuthContext } from '../http/route.js';
import { editors } from '../routes/access.js';
import type { CommandFrame } from './ws-frames.js';

export const commandAccess = { roles: editors, scope: 'calls:write' } as const;

export interface CommandDeps {
  store: Store;
  /** Ends a live call; false when the call is not live (ended, or being ended). */
  hangup(callId: string): boolean;
}

const missing: Record<Exclude<CommandFrame['type'], 'hangup'>, string> = {
  say: 'say needs the agent runtime (text to speech), which this version does not have',
  transfer: 'transfer needs outbound calling and REFER, which this version does not have',
  dtmf: 'dtmf needs DTMF sending on call legs, which this version does not have',
  mute: "mute needs the agent runtime's audio path, which this version does not have",
};

/** Carries out one command, or throws the AppError to answer with. */
export function runCommand(deps: CommandDeps, auth: AuthContext, cmd: CommandFrame): { callId: string; accepted: true } {
  authorize(auth, commandAccess);
  const call = deps.store.calls.get(auth, cmd.callId);
  if (!call) throw new AppError('not_found', 'Call not found');
  if (cmd.type !== 'hangup') throw new AppError('not_implemented', missing[cmd.type]);
  if (!deps.hangup(call.id)) throw new AppError('conflict', `Call is not live (${call.status})`);
  return { callId: call.id, accepted: true };
}
