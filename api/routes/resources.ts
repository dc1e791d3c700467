/** The tenant's resources: agents, workflows, tools, numbers, trunks, calls and analytics. */
import type { Store } from '../../engine/store/store.js';
import type { RouteDef } from '../http/route.js';
import { agentRoutes } from './agents.js';

export function resourceRoutes(store: Store): RouteDef[] {
  return [...agentRoutes(store)];
}
