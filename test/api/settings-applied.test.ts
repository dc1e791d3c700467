/**
 * Settings the API accepts but this version does not act on say so in the document. The agent
 * status and the inbound prefix rule are applied now: their descriptions say what they do, and
 * real calls check it in test/engine/calls/inbound-routing.test.ts. A trunk's outbound side,
 * caller id and outbound prefix rule act on blind transfers (test/engine/calls/transfer.test.ts).
 */
import test from 'ava';
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
  // Applied since the agent runtime (test/engine/agents): the config says how a call runs.
  t.regex(schemas.AgentConfig!.description!, /^How the agent runs a call: its workflow/);
  t.regex(schemas.AgentConfig!.properties!.webhookUrl!.description!, /not called by this version/);
  // Applied since: status refuses calls, the inbound prefix rule rewrites (test/engine/calls/inbound-routing.test.ts).
  for (const c of ['Agent', 'AgentCreate', 'AgentUpdate']) t.regex(schemas[c]!.properties!.status!.description!, /are refused \(SIP 480/, c);
  for (const c of ['SipTrunkCreate', 'SipTrunkUpdate']) {
    const p = schemas[c]!.properties!;
    // Applied since outbound calls (test/engine/calls/outbound.test.ts): the caps queue them.
    for (const cap of ['cpsLimit', 'maxConcurrentCalls']) t.regex(p[cap]!.description!, /Applies to outbound calls \(POST \/api\/v1\/calls\)/, `${c}.${cap}`);
    // Applied by outbound calls and by blind transfers to E.164 numbers (transfer.test.ts, sipfrag.test.ts).
    t.regex(p.outbound!.description!, /Where outbound calls \(POST \/api\/v1\/calls\) go.*Also used by blind transfers to an E\.164 number/, `${c}.outbound`);
    t.regex(p.callerId!.description!, /outbound calls without a `from`.*bridges a blind transfer/, `${c}.callerId`);
    t.regex(p.prefixRules!.description!, /`inbound` is applied to the dialled number.*`outbound` is applied to the E\.164 numbers we send the carrier: outbound calls/, `${c}.prefixRules`);
  }
});
