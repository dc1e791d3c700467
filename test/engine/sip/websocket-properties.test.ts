/**
 * fast-check over SIP WebSockets: valid requests broken in the ways of
 * test/helpers/sip-mutations.ts (byte flips, truncation, huge values, binary junk...) are sent as
 * WebSocket messages, text or binary, each on a fresh socket. Whatever a case is, the engine must
 * then either answer a valid OPTIONS on that same socket (the frame was answered or ignored) or
 * have closed that socket (1007 for what is not SIP, 1006 when uWS drops an oversized message),
 * never hang it; and a fresh socket must always get its OPTIONS answered. After the run, a SIP
 * user still registers with digest (200 with its binding).
 *
 * Runs: SIP_WS_PROPERTY_RUNS (default 120), printed with the time taken.
 */
import test from 'ava';
import fc from 'fast-check';
import { useApp } from '../../helpers/app.js';
import { mutate, mutation, uniqueSeed } from '../../helpers/sip-mutations.js';
import { connectSipWs, registerOverWs, wsRequest, type SipWsClient } from '../../helpers/sip-ws-client.js';
import { seedTenant } from '../../helpers/tenant.js';
import { requestText, SDP_150 } from '../../helpers/sip-text.js';

const RUNS = Number(process.env.SIP_WS_PROPERTY_RUNS ?? 120);
const MAX_MESSAGE = 16 * 1024;
// Loopback is exempt from bans: INVITEs from an unknown source get 403, which the tarpit counts.
const r = useApp(test, { sip: { host: '127.0.0.1', port: 0, drachtioPort: 0, wsMaxMessageBytes: MAX_MESSAGE, abuseExempt: ['127.0.0.0/8'] } });
const url = () => `ws://127.0.0.1:${r.app.http.port}/sip`;

test.before(() => r.ready);

function seeds(): Buffer[] {
  const q = (method: string, extra: Partial<Parameters<typeof requestText>[0]> = {}) =>
    Buffer.from(requestText({ method, uri: 'sip:nobody@127.0.0.1', branch: 'z9hG4bKseed', callId: 'seed@127.0.0.1', viaPort: 5060, viaHost: 'seed.invalid', transport: 'WS', ...extra }));
  return [
    q('OPTIONS', { uri: 'sip:service@127.0.0.1' }),
    q('INVITE', { extra: ['Content-Type: application/sdp'], body: SDP_150 }),
    q('REGISTER', { uri: 'sip:127.0.0.1' }),
    q('BYE', { toTag: 'gone' }),
    q('MESSAGE', { extra: ['Content-Type: text/plain'], body: 'hello' }),
  ];
}

/** The socket is closing or closed (a function: TypeScript would keep the OPEN narrowing). */
const isClosing = (c: SipWsClient) => c.socket.readyState >= c.socket.CLOSING;

let probes = 0;
/** A valid OPTIONS on `c`: true when answered, false when the socket closed first. */
async function answered(c: SipWsClient): Promise<boolean> {
  const callId = `probe-${++probes}@test`;
  if (c.socket.readyState !== c.socket.OPEN) return false;
  c.send(wsRequest('OPTIONS', `sip:127.0.0.1:${r.app.http.port};transport=ws`, { branch: `probe${probes}`, callId }));
  try {
    await c.next((m) => m.kind === 'response' && m.callId === callId && m.status >= 200, 5000);
    return true;
  } catch (e) {
    if (isClosing(c)) return false;
    throw e;
  }
}

test(`arbitrary WebSocket messages close at most their own socket, and the engine keeps answering (${RUNS} runs)`, async (t) => {
  const all = seeds();
  const closes = new Map<number, number>();
  let kept = 0;
  let n = 0;
  const t0 = performance.now();
  await fc.assert(
    fc.asyncProperty(fc.nat(all.length - 1), mutation(MAX_MESSAGE * 2), fc.boolean(), async (i, m, binary) => {
      const bytes = mutate(uniqueSeed(all[i]!, ++n), m);
      const c = await connectSipWs(url());
      c.socket.send(bytes, { binary });
      if (await answered(c)) {
        kept++;
        c.close();
      } else {
        const { code } = await c.closed;
        closes.set(code, (closes.get(code) ?? 0) + 1);
        if (code !== 1007 && code !== 1006) return false;
      }
      const fresh = await connectSipWs(url());
      const ok = await answered(fresh);
      fresh.close();
      return ok;
    }),
    { numRuns: RUNS },
  );
  const ms = performance.now() - t0;
  t.log(`${RUNS} cases in ${Math.round(ms)} ms (${Math.round((RUNS * 1000) / ms)} cases/s): socket kept ${kept}, closed ${JSON.stringify(Object.fromEntries(closes))}`);
  t.true(kept > 0 && closes.size > 0, 'both outcomes were exercised');
  // A SIP user registers with digest over a fresh socket: the registrar is unharmed.
  const tenant = await seedTenant(r.app);
  await r.req('POST', '/api/v1/sip-users', { headers: tenant.headers, body: { username: 'after', password: 'after-secret' } });
  const c = await connectSipWs(url());
  const reg = await registerOverWs(c, { user: 'after', password: 'after-secret', domain: `${tenant.tenantId}.live`, realm: r.config.sip.realm, callId: 'reg-after@test', cseq: 1, contacts: ['<sip:after@after.invalid;transport=ws>'], expires: '60' });
  t.log(`REGISTER afterwards: ${reg.status}, bindings ${reg.contacts.length}`);
  t.is(reg.status, 200);
  t.is(reg.contacts.length, 1);
  c.close();
});
