import test from 'ava';
import { loadUws, UwsNotNativeError } from '../../api/uws.js';

test('the native uWS binary loads on this Node', (t) => {
  const uws = loadUws();
  t.regex(Function.prototype.toString.call(uws.App), /\[native code\]/);
});

test('a binary that cannot load is refused, not replaced by the JS fallback', (t) => {
  const e = t.throws(() => loadUws('1'), { instanceOf: UwsNotNativeError });
  t.regex(e!.message, /uws_linux_x64_1\.node does not load .* refusing to start on the slow JavaScript fallback/);
});
