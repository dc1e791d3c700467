/**
 * A call's variables: what templates (`{{caller}}`) and branch conditions read. They start from
 * the call (caller, callee, trunk, the INVITE's `X-` headers) and the agent's configured
 * `variables`; gather nodes, set_variable nodes and tool results add to them.
 *
 * Names: `caller`, `callee`, `call_id`, `agent_id`, `trunk_id`, `sip.x_customer_tier` for an
 * `X-Customer-Tier` header (lower case, `-` as `_`), plus whatever the agent and workflow set.
 */

export type Vars = Record<string, unknown>;

/** What the call brings to its variables. */
export interface CallFacts {
  callId: string;
  agentId: string | null;
  caller: string | null;
  callee: string | null;
  trunkId: string | null;
  /** The INVITE's headers, by name as received. Only `X-` ones become variables. */
  headers: Record<string, string>;
  /** Variables the call was placed with (`POST /api/v1/calls`): over the agent's own, under the call's facts. */
  variables?: Record<string, unknown>;
}

/** The largest header value copied into a variable (a hostile INVITE cannot blow up prompts). */
const MAX_HEADER_VALUE = 1024;
/** At most this many `X-` headers become variables. */
const MAX_HEADERS = 32;

export function initialVars(facts: CallFacts, configured: Record<string, unknown> | undefined): Vars {
  const sip: Record<string, string> = {};
  let n = 0;
  for (const [name, value] of Object.entries(facts.headers)) {
    if (!/^x-[a-z0-9-]{1,64}$/i.test(name) || n >= MAX_HEADERS) continue;
    sip[name.toLowerCase().replace(/-/g, '_')] = String(value).slice(0, MAX_HEADER_VALUE);
    n++;
  }
  return {
    ...configured,
    ...facts.variables,
    caller: facts.caller,
    callee: facts.callee,
    call_id: facts.callId,
    agent_id: facts.agentId,
    trunk_id: facts.trunkId,
    sip,
  };
}

/** The value at a dotted path (`customer.tier`), or undefined. Own properties only. */
export function lookup(vars: Vars, path: string): unknown {
  let cur: unknown = vars;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** How a value reads when spoken or sent: text as is, numbers and booleans as text, others as JSON. */
function asText(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** Replaces each `{{ name }}` / `{{ a.b }}` with its value (missing: empty). */
export function render(template: string, vars: Vars): string {
  return template.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}\}/g, (_, path: string) => asText(lookup(vars, path)));
}

/** `render` through every string of a JSON value (tool node arguments). */
export function renderDeep(value: unknown, vars: Vars, depth = 0): unknown {
  if (depth > 32) return value;
  if (typeof value === 'string') {
    // A whole-string reference keeps its type: `"{{amount}}"` passes the number.
    const whole = /^\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}\}$/.exec(value);
    if (whole) {
      const v = lookup(vars, whole[1]!);
      return v === undefined ? '' : v;
    }
    return render(value, vars);
  }
  if (Array.isArray(value)) return value.map((v) => renderDeep(v, vars, depth + 1));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, renderDeep(v, vars, depth + 1)]));
  }
  return value;
}
