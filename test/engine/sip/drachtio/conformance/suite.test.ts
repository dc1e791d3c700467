/**
 * The conformance table against drachtio-srf's suite as installed: every assertion message of its
 * integration tests (node_modules/drachtio-srf/test/*.js, `t.pass` / `t.ok`) must name a flow of
 * the table, run or marked not applicable. The tests that exercise no server are listed here.
 */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { b2bFlows } from './flows-b2b.js';
import { proxyFlows, referFlow } from './flows-proxy.js';
import { uacFlows } from './flows-uac.js';
import { uasFlows } from './flows-uas.js';
import { registerFlows, type FlowEntry } from './flow.js';
import { SRF_SCENARIOS } from './sipp-peer.js';

const SRF_TEST = path.dirname(SRF_SCENARIOS);

/** drachtio-srf's tests that run without a drachtio server: nothing of ours to conform to. */
export const serverlessTests: FlowEntry[] = [
  {
    name: 'utils (Srf.parseUri, Srf.stringifyUri, Srf.SipError, tag validation)',
    source: 'utils.js',
    reason: "drachtio-srf's own URI parser and constructor checks; no SIP server and no SIP traffic are involved",
  },
  {
    name: 'testing parser functions',
    source: 'parser.js',
    reason: 'checks that drachtio-srf exports parseUri; no SIP server is involved (and test/index.js does not run it)',
  },
];

registerFlows(serverlessTests);

const table = [...uacFlows, ...uasFlows, ...b2bFlows, ...proxyFlows, referFlow, ...serverlessTests];

/** The assertion messages of one test file: the last quoted string of each t.pass / t.ok call. */
function messages(file: string): string[] {
  const src = fs.readFileSync(path.join(SRF_TEST, file), 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/t\.(?:pass|ok)\(/g)) {
    let depth = 1;
    let i = m.index + m[0].length;
    for (; depth > 0 && i < src.length; i++) depth += src[i] === '(' ? 1 : src[i] === ')' ? -1 : 0;
    const quoted = [...src.slice(m.index, i).matchAll(/'((?:[^'\\\n]|\\.)*)'/g)].map((q) => q[1]!).filter(Boolean);
    if (quoted.length) out.push(quoted[quoted.length - 1]!);
  }
  return out;
}

test('every assertion of drachtio-srf integration suite names a flow of the table', (t) => {
  const files = ['uac.js', 'uas.js', 'b2b.js', 'reinvite-tests.js', 'proxy.js', 'refer.js', 'subscribe.js'];
  let count = 0;
  for (const file of files) {
    for (const message of messages(file)) {
      count += 1;
      t.true(
        table.some((e) => e.source === file && e.name.includes(message)),
        `${file}: no flow for '${message}'`,
      );
    }
  }
  // uac.js 19 (callingNumber thrice), uas.js 8, b2b.js 19, proxy.js 2, one each in the other three.
  t.is(count, 51);
  t.true(fs.readdirSync(SRF_TEST).includes('utils.js'));
});
