/**
 * Imported for its effect: the test's peers (provider stand-ins, webhook receivers, agent
 * servers) listen on loopback, which the outbound guard refuses by default
 * (lib/outbound-guard.ts). Engines started with `testConfig` allow it through their settings;
 * tests that use the clients directly import this.
 */
import { configureOutbound } from '../../lib/outbound-guard.js';

configureOutbound({ allowPrivateNetworks: true });
