/** The served document's `x-external-agent` gives the bounds this engine runs with, not the defaults. */
import test from 'ava';
import { externalLimits } from '../../engine/agents/external/protocol.js';
import { useApp } from '../helpers/app.js';

const r = useApp(test, { externalAgents: { connectTimeoutMs: 1234, maxBufferedBytes: 4096 } });

test('x-external-agent lists the configured connect timeout and send-buffer bound, and the protocol’s fixed bounds', async (t) => {
  await r.ready;
  const doc = await r.req<{ 'x-external-agent': { limits: Record<string, unknown> } }>('GET', '/openapi.json');
  const limits = doc.body['x-external-agent'].limits;
  t.is(limits.connectTimeoutMs, 1234);
  t.regex(String(limits.maxBufferedBytes), /^4096: /);
  t.is(limits.maxPendingMarks, externalLimits.maxPendingMarks);
  t.not(externalLimits.connectTimeoutMs, 1234, 'the default differs, so the test can tell them apart');
});
