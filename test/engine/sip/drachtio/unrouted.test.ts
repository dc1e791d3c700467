/**
 * The answer to a request no app routes (drachtio/unrouted.ts). End to end, with call control
 * connected, the RFC 4475 test sees REGISTER get 405 and unknown methods 501, both with Allow.
 */
import test from 'ava';
import { allowedMethods, unroutedAnswer } from '../../../../engine/sip/drachtio/unrouted.js';

test('no app connected: 503, as drachtio-server', (t) => {
  t.deepEqual(unroutedAnswer('INVITE', null), { status: 503, reason: 'Service Unavailable', headers: [] });
});

test('a method we know but no app serves: 405 with Allow (§8.2.1); one we do not know: 501 with Allow', (t) => {
  const routes = ['invite', 'options'];
  for (const m of ['REGISTER', 'MESSAGE', 'SUBSCRIBE', 'PUBLISH']) t.like(unroutedAnswer(m, routes), { status: 405, headers: [['Allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE']] }, m);
  for (const m of ['RE%47IST%45R', 'register', "!interesting-Method0123456789_*+`.%indeed'~"]) t.like(unroutedAnswer(m, routes), { status: 501, reason: 'Not Implemented' }, m);
});

test('Allow lists what apps route, INVITE bringing ACK, CANCEL, BYE and UPDATE', (t) => {
  t.is(allowedMethods(['options']), 'OPTIONS');
  t.is(allowedMethods(['message', 'invite', 'subscribe', 'options']), 'INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, SUBSCRIBE, UPDATE');
  t.is(allowedMethods([]), '');
});
