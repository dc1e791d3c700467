/**
 * The location service's flow index: a closed WebSocket finds its bindings without scanning
 * every AOR. A fast-check model run checks that whatever sequence of REGISTERs (new contacts,
 * refreshes from another flow, expires 0, `*`), AOR removals and flow closes happened, closing a
 * flow removes exactly the bindings on it and the index empties with the bindings.
 */
import test from 'ava';
import fc from 'fast-check';
import { Bindings, type Flow } from '../../../engine/calls/registrar/bindings.js';

const rules = { defaultSeconds: 3600, minSeconds: 60, maxSeconds: 7200 };
const flows: Flow[] = [0, 1, 2, 3].map((i) => ({ protocol: 'ws', address: '127.0.0.1', port: 40000 + i }));
const aors = ['sip:a@t.live', 'sip:b@t.live', 'sip:c@t.live'];

type Op =
  | { kind: 'register'; aor: number; contact: number; flow: number; expires: 0 | 600 }
  | { kind: 'star'; aor: number }
  | { kind: 'removeAor'; aor: number }
  | { kind: 'removeFlow'; flow: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('register' as const), aor: fc.nat(2), contact: fc.nat(3), flow: fc.nat(3), expires: fc.constantFrom(0 as const, 600 as const) }),
  fc.record({ kind: fc.constant('star' as const), aor: fc.nat(2) }),
  fc.record({ kind: fc.constant('removeAor' as const), aor: fc.nat(2) }),
  fc.record({ kind: fc.constant('removeFlow' as const), flow: fc.nat(3) }),
);

test('property: closing a flow removes exactly the bindings on it, whatever came before; the index empties with them (500 runs of up to 40 operations)', (t) => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const b = new Bindings(rules);
      let cseq = 0;
      for (const o of ops) {
        if (o.kind === 'register') {
          b.register({ aor: aors[o.aor]!, contacts: [`<sip:u${o.contact}@h${o.contact}.invalid;transport=ws>`], expiresHeader: String(o.expires), callId: `c${o.flow}`, cseq: ++cseq, flow: flows[o.flow]!, userAgent: null });
        } else if (o.kind === 'star') {
          b.register({ aor: aors[o.aor]!, contacts: ['*'], expiresHeader: '0', callId: 'star', cseq: ++cseq, flow: flows[0]!, userAgent: null });
        } else if (o.kind === 'removeAor') b.removeAor(aors[o.aor]!);
        else {
          const before = aors.flatMap((a) => b.list(a)).filter((x) => x.flow.port === flows[o.flow]!.port).length;
          if (b.removeFlow(flows[o.flow]!) !== before) return false;
        }
      }
      for (const f of flows) {
        const on = aors.flatMap((a) => b.list(a)).filter((x) => x.flow.port === f.port).length;
        if (b.removeFlow(f) !== on) return false;
        if (aors.flatMap((a) => b.list(a)).some((x) => x.flow.port === f.port)) return false;
      }
      const empty = b.size === 0 && b.flowCount === 0;
      b.close();
      return empty;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('10,000 registered WebSockets closing one by one: each close touches only its own bindings (time logged)', (t) => {
  const b = new Bindings(rules);
  const n = 10_000;
  const flowOf = (i: number): Flow => ({ protocol: 'ws', address: '127.0.0.1', port: 10_000 + i });
  for (let i = 0; i < n; i++) {
    b.register({ aor: `sip:user${i}@t.live`, contacts: [`<sip:u@h${i}.invalid;transport=ws>`], expiresHeader: '600', callId: `c${i}`, cseq: 1, flow: flowOf(i), userAgent: null });
  }
  t.is(b.size, n);
  const t0 = performance.now();
  let removed = 0;
  for (let i = 0; i < n; i++) removed += b.removeFlow(flowOf(i));
  const ms = performance.now() - t0;
  t.is(removed, n);
  t.is(b.flowCount, 0);
  t.log(`${n} flow closes in ${ms.toFixed(1)} ms (${((ms * 1000) / n).toFixed(2)} µs each)`);
  b.close();
});
