/** drachtio-srf's uas.js, reinvite-tests.js and subscribe.js flows against the embedded server. */
import { registerFlows } from './flow.js';
import { uasFlows } from './flows-uas.js';

registerFlows(uasFlows);
