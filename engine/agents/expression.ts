/**
 * The condition language of workflow `branch` nodes: small, side-effect free, and checked when
 * a workflow is saved, so a typo fails the save instead of a live call.
 *
 *   expr    := or
 *   or      := and ('||' and)*
 *   and     := unary ('&&' unary)*
 *   unary   := '!' unary | compare
 *   compare := primary (('==' | '!=' | '<' | '<=' | '>' | '>=') primary)?
 *   primary := number | 'string' | "string" | true | false | null | name('.'name)* | '(' expr ')'
 *
 * Names read call variables (`digits`, `customer.tier`). `==` compares a number with a numeric
 * string as numbers (DTMF digits arrive as text), everything else strictly.
 */

type Expr =
  | { kind: 'literal'; value: string | number | boolean | null }
  | { kind: 'var'; path: string[] }
  | { kind: 'not'; arg: Expr }
  | { kind: 'logic'; op: '&&' | '||'; left: Expr; right: Expr }
  | { kind: 'compare'; op: CompareOp; left: Expr; right: Expr };

type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

/** A syntax error, with the 0-based character position where it was found. */
export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
    this.name = 'ExpressionError';
  }
}

interface Token {
  type: 'num' | 'str' | 'name' | 'op' | 'end';
  text: string;
  pos: number;
  value?: string | number;
}

const MAX_LENGTH = 1000;
/** One token at the cursor (sticky): number, quoted string, name, or operator. */
const tokenRe = /(\d+(?:\.\d+)?)|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([A-Za-z_][A-Za-z0-9_]*)|(==|!=|<=|>=|&&|\|\||[<>!().])/y;

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let pos = 0;
  for (;;) {
    while (pos < src.length && /\s/.test(src[pos]!)) pos++;
    if (pos >= src.length) break;
    tokenRe.lastIndex = pos;
    const m = tokenRe.exec(src);
    if (!m) throw new ExpressionError(`Unexpected character "${src[pos]}"`, pos);
    if (m[1] !== undefined) out.push({ type: 'num', text: m[1], pos, value: Number(m[1]) });
    else if (m[2] !== undefined || m[3] !== undefined) {
      out.push({ type: 'str', text: m[0], pos, value: (m[2] ?? m[3]!).replace(/\\(.)/g, '$1') });
    } else if (m[4] !== undefined) out.push({ type: 'name', text: m[4], pos });
    else out.push({ type: 'op', text: m[5]!, pos });
    pos = tokenRe.lastIndex;
  }
  out.push({ type: 'end', text: 'end of input', pos: src.length });
  return out;
}

/** Parses `src`, or throws an ExpressionError naming what was wrong and where. */
export function parseExpression(src: string): Expr {
  if (src.length > MAX_LENGTH) throw new ExpressionError(`Longer than ${MAX_LENGTH} characters`, MAX_LENGTH);
  const tokens = tokenize(src);
  let i = 0;
  const peek = () => tokens[i]!;
  const isOp = (text: string) => peek().type === 'op' && peek().text === text;
  const fail = (what: string): never => {
    const t = peek();
    throw new ExpressionError(`Expected ${what}, found ${t.type === 'end' ? t.text : `"${t.text}"`}`, t.pos);
  };

  const primary = (): Expr => {
    const t = peek();
    if (t.type === 'num' || t.type === 'str') {
      i++;
      return { kind: 'literal', value: t.value! };
    }
    if (t.type === 'name') {
      i++;
      if (t.text === 'true' || t.text === 'false') return { kind: 'literal', value: t.text === 'true' };
      if (t.text === 'null') return { kind: 'literal', value: null };
      const path = [t.text];
      while (isOp('.')) {
        i++;
        if (peek().type !== 'name') fail('a name after "."');
        path.push(tokens[i++]!.text);
      }
      return { kind: 'var', path };
    }
    if (isOp('(')) {
      i++;
      const e = or();
      if (!isOp(')')) fail('")"');
      i++;
      return e;
    }
    return fail('a value, a variable or "("');
  };
  const compare = (): Expr => {
    const left = primary();
    const t = peek();
    if (t.type === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.text)) {
      i++;
      return { kind: 'compare', op: t.text as CompareOp, left, right: primary() };
    }
    return left;
  };
  const unary = (): Expr => {
    if (isOp('!')) {
      i++;
      return { kind: 'not', arg: unary() };
    }
    return compare();
  };
  const chain = (op: '&&' | '||', next: () => Expr) => (): Expr => {
    let left = next();
    while (isOp(op)) {
      i++;
      left = { kind: 'logic', op, left, right: next() };
    }
    return left;
  };
  const and = chain('&&', unary);
  const or = chain('||', and);

  if (peek().type === 'end') fail('an expression');
  const e = or();
  if (peek().type !== 'end') fail('an operator or the end');
  return e;
}

/** Evaluates a parsed expression against call variables. */
export function evaluate(e: Expr, vars: Record<string, unknown>): unknown {
  switch (e.kind) {
    case 'literal':
      return e.value;
    case 'var':
      return e.path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), vars);
    case 'not':
      return !truthy(evaluate(e.arg, vars));
    case 'logic': {
      const l = truthy(evaluate(e.left, vars));
      return e.op === '&&' ? l && truthy(evaluate(e.right, vars)) : l || truthy(evaluate(e.right, vars));
    }
    case 'compare':
      return compareValues(e.op, evaluate(e.left, vars), evaluate(e.right, vars));
  }
}

/** JavaScript truthiness: false, 0, "", null and missing variables are false. */
const truthy = (v: unknown): boolean => Boolean(v);

function compareValues(op: CompareOp, a: unknown, b: unknown): boolean {
  // A number against a numeric string compares as numbers: DTMF digits arrive as text.
  if (typeof a === 'number' && typeof b === 'string' && b.trim() !== '' && !Number.isNaN(Number(b))) b = Number(b);
  if (typeof b === 'number' && typeof a === 'string' && a.trim() !== '' && !Number.isNaN(Number(a))) a = Number(a);
  if (op === '==') return a === b;
  if (op === '!=') return a !== b;
  if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) return false;
  const x = a as number | string;
  const y = b as number | string;
  return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
}
