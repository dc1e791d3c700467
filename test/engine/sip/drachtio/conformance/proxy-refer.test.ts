/** drachtio-srf's proxy.js and refer.js flows against the embedded server. */
import { registerFlows } from './flow.js';
import { proxyFlows, referFlow } from './flows-proxy.js';

registerFlows([...proxyFlows, referFlow]);
