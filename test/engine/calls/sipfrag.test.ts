/**
 * The readers of a REFER's NOTIFYs (engine/calls/sipfrag.ts) and the transfer target rule
 * (engine/calls/transfer-target.ts): whatever a peer writes, nothing throws; what RFC 3515's
 * sipfrag says is read back exactly; a target becomes the URI the README documents, or a refusal.
 */
import test from 'ava';
import fc from 'fast-check';
import { isReferEvent, parseSipfrag, parseSubscriptionState, referEventId } from '../../../engine/calls/sipfrag.js';
import { resolveTarget } from '../../../engine/calls/transfer-target.js';
import type { SipTrunk } from '../../../engine/store/repositories/sip-trunks.js';

const RUNS = 2000;

/** Text a peer may send: any string, CR/LF-heavy strings, and near-misses of a status line. */
const bodies = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: fc.constantFrom('S', 'I', 'P', '/', '2', '.', '0', ' ', '\r', '\n', '\t', '9', '1'), maxLength: 60 }),
  fc.tuple(fc.constantFrom('SIP/2.0 ', 'sip/2.0 ', 'SIP/2.0\t', 'SIP/1.0 ', '\r\nSIP/2.0 ', ''), fc.string({ maxLength: 40 })).map(([a, b]) => a + b),
  fc.string({ unit: 'binary', maxLength: 200 }),
);

test(`no input makes the NOTIFY readers throw (${RUNS} cases per reader)`, (t) => {
  fc.assert(
    fc.property(fc.oneof(bodies, fc.constant(undefined), fc.constant(null)), (body) => {
      const frag = parseSipfrag(body);
      parseSubscriptionState(body);
      isReferEvent(body);
      referEventId(body);
      // What is read is a real status.
      return frag === null || (Number.isInteger(frag.status) && frag.status >= 100 && frag.status <= 699 && !/[\r\n]/.test(frag.reason));
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test(`a sipfrag status line is read back exactly, whatever follows it (${RUNS} runs)`, (t) => {
  const reason = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz ABC-'.split('')), maxLength: 30 }).map((s) => s.trim());
  fc.assert(
    fc.property(fc.integer({ min: 100, max: 699 }), reason, fc.constantFrom('', '\r\n', '\r\nContact: <sip:x@y>\r\n\r\n', '\n'), fc.constantFrom('', '\r\n'), (status, text, rest, lead) => {
      const frag = parseSipfrag(`${lead}SIP/2.0 ${status}${text ? ` ${text}` : ''}${rest}`);
      return frag !== null && frag.status === status && frag.reason === text;
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test('RFC 3515 examples and near-misses', (t) => {
  t.deepEqual(parseSipfrag('SIP/2.0 100 Trying\r\n'), { status: 100, reason: 'Trying' });
  t.deepEqual(parseSipfrag('SIP/2.0 200 OK'), { status: 200, reason: 'OK' });
  t.deepEqual(parseSipfrag('SIP/2.0 503 Service Unavailable\r\nRetry-After: 5\r\n'), { status: 503, reason: 'Service Unavailable' });
  t.is(parseSipfrag('INVITE sip:bob@example.com SIP/2.0\r\n'), null, 'a request line is no status');
  t.is(parseSipfrag('SIP/2.0 99 Too low'), null);
  t.is(parseSipfrag('SIP/2.0 700 Too high'), null);
  t.is(parseSipfrag(''), null);
  t.is(parseSipfrag(`SIP/2.0 200 ${'x'.repeat(10_000)}`), null, 'an endless status line is refused, not scanned');
  t.deepEqual(parseSubscriptionState('terminated;reason=noresource'), { state: 'terminated', reason: 'noresource' });
  t.deepEqual(parseSubscriptionState('active;expires=60'), { state: 'active', reason: null });
  t.deepEqual(parseSubscriptionState('Weird'), { state: 'other', reason: null });
  t.is(parseSubscriptionState(''), null);
  t.true(isReferEvent('refer'));
  t.true(isReferEvent('Refer;id=93809824'));
  t.false(isReferEvent('dialog'));
  t.is(referEventId('refer;id=93809824'), 93809824);
  t.is(referEventId('refer'), null);
});

const trunk = (outbound: SipTrunk['outbound'], prefixRules: SipTrunk['prefixRules'] = {}): SipTrunk => ({
  id: 't',
  tenantId: 'x',
  mode: 'live',
  name: 'carrier',
  inbound: { allowlist: [], username: null, password: null },
  outbound,
  callerId: null,
  prefixRules,
  cpsLimit: null,
  maxConcurrentCalls: null,
  createdAt: '',
  updatedAt: '',
});

test('target rule: E.164 on the trunk gateway (transport, credentials), else on the caller Contact; SIP URIs as written; the rest refused', (t) => {
  const gw = trunk({ host: 'sbc.example.net', port: 5080, transport: 'tcp', username: 'u', password: 'p' });
  t.deepEqual(resolveTarget('+15551234567', gw, 'sip:a@10.0.0.1'), { uri: 'sip:+15551234567@sbc.example.net:5080;user=phone;transport=tcp', auth: { username: 'u', password: 'p' } });
  t.deepEqual(resolveTarget('+15551234567', trunk({ host: '2001:db8::1', port: 5061, transport: 'tls', username: null, password: null }), null), {
    uri: 'sips:+15551234567@[2001:db8::1]:5061;user=phone;transport=tls',
    auth: null,
  });
  t.deepEqual(resolveTarget('+15551234567', trunk(null), 'sip:sipp@127.0.0.1:5070;transport=udp'), { uri: 'sip:+15551234567@127.0.0.1:5070;user=phone;transport=udp', auth: null });
  t.deepEqual(resolveTarget('+15551234567', null, 'sip:carrier.example.com'), { uri: 'sip:+15551234567@carrier.example.com;user=phone', auth: null });
  const rewriting = trunk({ host: '192.0.2.7', port: 5060, transport: 'udp', username: null, password: null }, { outbound: { strip: '+', add: '00' } });
  t.deepEqual(resolveTarget('+445551234567', rewriting, null), { uri: 'sip:00445551234567@192.0.2.7:5060;user=phone', auth: null }, "the trunk's outbound prefix rule");
  t.deepEqual(resolveTarget('+445551234567', trunk(null, { outbound: { strip: '+44', add: '#0' } }), 'sip:c@192.0.2.9'), { uri: 'sip:%2305551234567@192.0.2.9;user=phone', auth: null });
  t.deepEqual(resolveTarget('sip:support@example.com', gw, null), { uri: 'sip:support@example.com', auth: null }, 'no credentials for another host');
  t.deepEqual(resolveTarget('sip:+1555@sbc.example.net:5080', gw, null), { uri: 'sip:+1555@sbc.example.net:5080', auth: { username: 'u', password: 'p' } });
  for (const bad of ['15551234567', '+0123', '+1234567890123456', 'tel:+15551234567', 'sip:a@b?Replaces=x', 'sip:a:secret@b', 'sip:a@b>\r\nX: y', 'support', '']) {
    t.true('error' in resolveTarget(bad, gw, 'sip:a@b'), bad);
  }
  t.true('error' in resolveTarget('+15551234567', null, null), 'a number with neither a gateway nor a Contact');
});

test(`target rule: no target string throws, and every accepted URI is one header value (${RUNS} runs)`, (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.string({ maxLength: 40 }).map((s) => `sip:${s}`), fc.string({ unit: fc.constantFrom(...'+0123456789'.split('')), maxLength: 18 })), (target) => {
      const r = resolveTarget(target, null, 'sip:caller@127.0.0.1:5060');
      return 'error' in r || !/[\s<>"]/.test(r.uri);
    }),
    { numRuns: RUNS },
  );
  t.pass();
});
