import { createHash } from 'node:crypto';
import test from 'ava';
import { DigestVerifier, parseDigest } from '../../../engine/calls/digest.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** What a UAC computes (RFC 2617 §3.2.2.1). */
function answer(challenge: string, user: string, password: string, method: string, uri: string) {
  const realm = /realm="([^"]+)"/.exec(challenge)![1]!;
  const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
  const ha1 = md5(`${user}:${realm}:${password}`);
  const ha2 = md5(`${method}:${uri}`);
  const response = md5(`${ha1}:${nonce}:00000001:abcdef:auth:${ha2}`);
  return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="abcdef"`;
}

test('a correct digest answer verifies; a wrong password, realm or forged nonce does not', (t) => {
  const v = new DigestVerifier('agent-studio');
  const ch = v.challenge();
  t.regex(ch, /^Digest realm="agent-studio", nonce="[0-9a-f]+\.[\w-]{22}", algorithm=MD5, qop="auth"$/);
  const good = parseDigest(answer(ch, 'trunk1', 's3cret', 'INVITE', 'sip:+15550001@127.0.0.1'))!;
  t.is(v.verify('INVITE', good, 's3cret'), 'ok');
  t.is(v.verify('INVITE', good, 'wrong'), 'bad');
  t.is(v.verify('BYE', good, 's3cret'), 'bad', 'method is part of the hash');
  t.is(v.verify('INVITE', { ...good, realm: 'other' }, 's3cret'), 'bad');
  t.is(v.verify('INVITE', { ...good, nonce: '18c0a.AAAAAAAAAAAAAAAAAAAAAA' }, 's3cret'), 'bad');
  const other = new DigestVerifier('agent-studio');
  t.is(other.verify('INVITE', good, 's3cret'), 'bad', 'a nonce from another process key is not ours');
});

test('parseDigest handles quoting and rejects non-digest headers', (t) => {
  t.like(parseDigest('Digest username="a\\"b", realm="r", nonce=n, uri="sip:x", response="f"'), { username: 'a\\"b', nonce: 'n' });
  t.is(parseDigest('Basic abc'), undefined);
  t.is(parseDigest('Digest realm="r"'), undefined);
});
