/** The tenant's resources: agents, workflows, tools, audio files, numbers, trunks, providers, calls and analytics. */
import type { AudioFiles } from '../../engine/agents/audio-files.js';
import type { Recordings } from '../../engine/calls/recordings.js';
import type { EventLog } from '../../engine/events/event-log.js';
import type { Store } from '../../engine/store/store.js';
import type { RouteDef } from '../http/route.js';
import type { CommandDeps } from '../realtime/commands.js';
import { agentRoutes } from './agents.js';
import { analyticsRoutes } from './analytics.js';
import { audioFileRoutes } from './audio-files.js';
import { callRoutes } from './calls.js';
import type { OutboundCalls } from './outbound-calls.js';
import { phoneNumberRoutes } from './phone-numbers.js';
import { providerRoutes } from './providers.js';
import { sipTrunkRoutes } from './sip-trunks.js';
import { toolRoutes } from './tools.js';
import { workflowRoutes } from './workflows.js';

/**
 * `events` receives the lifecycle events the routes announce (`agent.updated`); `commands`
 * carries out the call actions (shared with the WebSocket's commands); `recordings` serves call
 * recordings; `audioFiles` stores the sounds workflows play; `outbound` places outbound calls.
 */
export function resourceRoutes(
  store: Store,
  events: EventLog,
  commands: CommandDeps,
  recordings: Recordings,
  audioFiles: AudioFiles,
  outbound: OutboundCalls,
): RouteDef[] {
  return [
    ...agentRoutes(store, events),
    ...workflowRoutes(store),
    ...audioFileRoutes(store, audioFiles),
    ...toolRoutes(store),
    ...phoneNumberRoutes(store),
    ...sipTrunkRoutes(store),
    ...providerRoutes(store),
    ...callRoutes(store, commands, recordings, outbound),
    ...analyticsRoutes(store),
  ];
}
