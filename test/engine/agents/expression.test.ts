import test from 'ava';
import { evaluate, ExpressionError, parseExpression } from '../../../engine/agents/expression.js';

const run = (src: string, vars: Record<string, unknown> = {}) => evaluate(parseExpression(src), vars);

test('comparisons, logic and precedence', (t) => {
  const vars = { digits: '1', tier: 'gold', score: 7, customer: { vip: true, name: "O'Brien" } };
  t.true(run('digits == 1', vars), 'a numeric string equals the number (DTMF arrives as text)');
  t.false(run('digits == 2', vars));
  t.true(run('digits != "2"', vars));
  t.true(run('score >= 7 && score < 8', vars));
  t.true(run('tier == "silver" || customer.vip', vars));
  t.false(run('!(customer.vip)', vars));
  t.true(run('tier == "gold" && !missing', vars));
  t.true(run("customer.name == 'O\\'Brien'", vars));
  t.false(run('true && false || false', vars), '&& binds tighter than ||');
  t.true(run('false && false || true', vars));
  t.is(run('missing.deeper', vars), undefined);
  t.false(run('score < "abc"', vars), 'mixed types never order');
  t.true(run('null == nothing_set', { nothing_set: null }));
});

test('syntax errors name what was expected and where', (t) => {
  const cases: [string, string][] = [
    ['', 'Expected an expression, found end of input at position 0'],
    ['digits ==', 'Expected a value, a variable or "(", found end of input at position 9'],
    ['(a == 1', 'Expected ")", found end of input at position 7'],
    ['a == 1 b', 'Expected an operator or the end, found "b" at position 7'],
    ['a = 1', 'Unexpected character "=" at position 2'],
    ['a.', 'Expected a name after ".", found end of input at position 2'],
    ['x'.repeat(1001), 'Longer than 1000 characters at position 1000'],
  ];
  for (const [src, message] of cases) {
    const e = t.throws(() => parseExpression(src), { instanceOf: ExpressionError });
    t.is(e!.message, message, src.slice(0, 20));
  }
});
