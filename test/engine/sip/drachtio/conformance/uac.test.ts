/** drachtio-srf's uac.js flows against the embedded server. */
import { registerFlows } from './flow.js';
import { uacFlows } from './flows-uac.js';

registerFlows(uacFlows);
