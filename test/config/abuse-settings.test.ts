/**
 * The `sip.abuse*` settings: environment names, defaults, and refusal of bad values with the
 * field named (the engine then exits 78).
 */
import test from 'ava';
import { ConfigError, loadConfig } from '../../config/load.js';
import { abuseOptionsFromConfig, stackOptionsFromConfig } from '../../engine/sip/stack-options.js';

test('defaults: protection on, 500 requests/s (burst 1000) per source, ban after 10 failures or 50 unanswered challenges, for 10 minutes', (t) => {
  const sip = loadConfig({}).sip;
  t.like(abuseOptionsFromConfig(sip), {
    requests: { rate: 500, burst: 1000 },
    dialogRequests: { rate: 1000, burst: 2000 },
    tarpitAfter: 3,
    tarpitMs: 500,
    tarpitMaxMs: 4000,
    banAfter: 10,
    challengeBanAfter: 50,
    banMs: 600_000,
    failureWindowMs: 600_000,
    maxSources: 10_000,
    exempt: [],
  });
  t.truthy(stackOptionsFromConfig(sip).abuse);
});

test('AS_SIP_ABUSE_* set the guard; AS_SIP_ABUSE_PROTECTION=false removes it', (t) => {
  const sip = loadConfig({ AS_SIP_ABUSE_BAN_MS: '2000', AS_SIP_ABUSE_EXEMPT: '10.0.0.0/8, 2001:db8::1', AS_SIP_ABUSE_REQUEST_RATE: '50' }).sip;
  t.like(abuseOptionsFromConfig(sip), { banMs: 2000, exempt: ['10.0.0.0/8', '2001:db8::1'], requests: { rate: 50, burst: 1000 } });
  t.is(stackOptionsFromConfig(loadConfig({ AS_SIP_ABUSE_PROTECTION: 'false' }).sip).abuse, undefined);
});

test('a bad exempt entry or ban length is refused, naming the field', (t) => {
  const e = t.throws(() => loadConfig({ AS_SIP_ABUSE_EXEMPT: '10.0.0.0/8,not-an-ip', AS_SIP_ABUSE_BAN_MS: '5' }), { instanceOf: ConfigError }) as ConfigError;
  t.deepEqual(e.issues.map((i) => i.field).sort(), ['sip.abuseBanMs (AS_SIP_ABUSE_BAN_MS)', 'sip.abuseExempt.1 (AS_SIP_ABUSE_EXEMPT)']);
});
