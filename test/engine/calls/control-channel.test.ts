/**
 * Call control's channel to the embedded SIP server (`sip.drachtioChannel`): in-process by
 * default (no TCP connection to the control port), TCP when asked; a session the server drops is
 * reconnected, and the engine answers again.
 */
import test, { type ExecutionContext } from 'ava';
import { InProcessSocket } from '../../../engine/sip/drachtio/in-process-socket.js';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, type InboundSetup } from '../../helpers/inbound.js';
import { liveness } from '../../helpers/sip-probe.js';
import { tcpConnectionsOn } from '../../helpers/tcp-connections.js';

const sessionsOf = (s: InboundSetup) => [...s.app.engine.sip!.drachtio.control.sessions];

/** Health says call control is connected, and OPTIONS gets 200: the server alone answers 503, so the 200 came through the channel. */
async function assertAnswering(t: ExecutionContext, s: InboundSetup): Promise<void> {
  const health = await request<{ components: { sip: { callControl: string; apps: number } } }>(s.base, 'GET', '/api/v1/health');
  t.is(health.status, 200);
  t.like(health.body.components.sip, { callControl: 'connected', apps: 1 });
  t.is(await liveness('udp', s.sipPort), 200);
}

const channels = [
  { title: 'embedded mode: call control is on the in-process channel, no TCP connection reaches the control port, and OPTIONS is answered by call control', overrides: {}, inProcess: true, tcp: 0 },
  // Two: both ends of the one connection.
  { title: 'sip.drachtioChannel = tcp: call control connects to the control port over TCP', overrides: { sip: { drachtioChannel: 'tcp' } }, inProcess: false, tcp: 2 },
];
for (const c of channels) {
  test.serial(c.title, async (t) => {
    const s = await inboundSetup(c.overrides);
    t.teardown(() => s.close());
    const sessions = sessionsOf(s);
    t.is(sessions.length, 1);
    t.is(sessions[0]!.socket instanceof InProcessSocket, c.inProcess);
    t.is(tcpConnectionsOn(s.app.engine.sip!.control.port), c.tcp);
    await assertAnswering(t, s);
  });
}

test.serial('the server drops the in-process session: call control reconnects, health says connected again, calls are answered again', async (t) => {
  const s = await inboundSetup();
  t.teardown(() => s.close());
  const calls = s.app.engine.calls;
  const first = sessionsOf(s)[0]!;
  first.socket.destroy();
  await waitFor(() => !calls.connected, 2000);
  await waitFor(() => calls.connected && sessionsOf(s)[0]?.routes.has('invite'), 5000);
  const second = sessionsOf(s);
  t.is(second.length, 1);
  t.not(second[0]!.id, first.id);
  t.true(second[0]!.socket instanceof InProcessSocket);
  const health = await request<{ components: { sip: { callControl: string; apps: number } } }>(s.base, 'GET', '/api/v1/health');
  t.is(health.status, 200);
  t.like(health.body.components.sip, { callControl: 'connected', apps: 1 });
  t.is(await liveness('udp', s.sipPort), 200);
});
