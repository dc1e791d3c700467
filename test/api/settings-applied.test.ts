/**
 * Settings the API accepts but this version does not act on say so in the document. The agent
 * status and the inbound prefix rule are applied now: their descriptions say what they do, and
 * real calls check it in test/engine/calls/inbound-routing.test.ts.
 */
import test from 'ava';
import { NOT_YET_APPLIED } from '../../engine/agents/agent-config.js';
import { request } from '../helpers/http.js';
import { inboundSetup, type InboundSetup } from '../helpers/inbound.js';

let s: InboundSetup;
test.before(async () => {
  s = await inboundSetup();
});
test.after.always(() => s?.close());

type Schemas = Record<string, { description?: string; properties?: Record<string, { description?: string }> }>;

test('the document says which stored settings no call uses yet', async (t) => {
  const schemas = (await request<{ components: { schemas: Schemas } }>(s.base, 'GET', '/openapi.json')).body.components.schemas;
  t.true(schemas.AgentConfig!.description!.endsWith(NOT_YET_APPLIED));
  t.regex(schemas.AgentConfig!.properties!.webhookUrl!.description!, /not called by this version/);
  // Applied since: status refuses calls, the inbound prefix rule rewrites (test/engine/calls/inbound-routing.test.ts).
  for (const c of ['Agent', 'AgentCreate', 'AgentUpdate']) t.regex(schemas[c]!.properties!.status!.description!, /are refused \(SIP 480/, c);
  for (const c of ['SipTrunkCreate', 'SipTrunkUpdate']) {
    const p = schemas[c]!.properties!;
    for (const f of ['outbound', 'callerId', 'cpsLimit']) t.regex(p[f]!.description!, /which this version does not make yet/, `${c}.${f}`);
    t.regex(p.prefixRules!.description!, /`inbound` is applied to the dialled number.*`outbound`: Stored for outbound calls, which this version does not make yet/, `${c}.prefixRules`);
  }
});
