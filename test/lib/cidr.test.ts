import test from 'ava';
import { cidrContains, parseCidr, parseIp } from '../../lib/cidr.js';

const inside = (cidr: string, ip: string) => cidrContains(parseCidr(cidr)!, parseIp(ip)!);

test('IPv4 and IPv6 blocks contain exactly their addresses', (t) => {
  t.true(inside('10.0.0.0/8', '10.255.255.255'));
  t.false(inside('10.0.0.0/8', '11.0.0.0'));
  t.true(inside('192.0.2.128/25', '192.0.2.200'));
  t.false(inside('192.0.2.128/25', '192.0.2.127'));
  t.true(inside('0.0.0.0/0', '203.0.113.9'));
  t.true(inside('198.51.100.7', '198.51.100.7'));
  t.false(inside('198.51.100.7', '198.51.100.8'));
  t.true(inside('2001:db8::/32', '2001:db8:ffff::1'));
  t.false(inside('2001:db8::/32', '2001:db9::1'));
  t.true(inside('2001:db8:0:1::/63', '2001:db8:0:1:ffff::'));
  t.false(inside('2001:db8:0:2::/63', '2001:db8:0:1::'));
  t.true(inside('::/0', '::1'));
  t.false(inside('10.0.0.0/8', '::ffff:11.0.0.1'));
  t.true(inside('10.0.0.0/8', '::ffff:10.1.2.3'), 'IPv4-mapped IPv6 is IPv4');
  t.false(inside('::/0', '10.0.0.1'), 'families never match each other');
});

test('IPv6 text forms expand to the same bytes', (t) => {
  t.deepEqual(parseIp('2001:db8::1'), parseIp('2001:0db8:0000:0000:0000:0000:0000:0001'));
  t.deepEqual(parseIp('::'), new Uint8Array(16));
  t.deepEqual([...parseIp('64:ff9b::192.0.2.33')!.slice(12)], [192, 0, 2, 33]);
});

test('anything else is refused', (t) => {
  for (const bad of ['300.0.0.1', '10.0.0.0/33', '2001:db8::/129', '10.0.0.0/', '10.0.0.0/x', 'example.com', '', '1.2.3']) {
    t.is(parseCidr(bad), null, bad);
  }
});
