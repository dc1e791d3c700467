/** The tenant's resources: agents, workflows, tools, numbers, trunks, calls and analytics. */
import type { Store } from '../../engine/store/store.js';
import type { RouteDef } from '../http/route.js';
import { agentRoutes } from './agents.js';
import { analyticsRoutes } from './analytics.js';
import { callRoutes } from './calls.js';
import { phoneNumberRoutes } from './phone-numbers.js';
import { sipTrunkRoutes } from './sip-trunks.js';
import { toolRoutes } from './tools.js';
import { workflowRoutes } from './workflows.js';

export function resourceRoutes(store: Store): RouteDef[] {
  return [
    ...agentRoutes(store),
    ...workflowRoutes(store),
    ...toolRoutes(store),
    ...phoneNumberRoutes(store),
    ...sipTrunkRoutes(store),
    ...callRoutes(store),
    ...analyticsRoutes(store),
  ];
}
