/** drachtio-srf's b2b.js flows against the embedded server. */
import { b2bFlows } from './flows-b2b.js';
import { registerFlows } from './flow.js';

registerFlows(b2bFlows);
