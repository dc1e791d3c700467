/**
 * The definition of "wider scopes" (`api/auth/grants.ts`) checked against what scopes mean: a
 * set of scopes grants a concrete permission when `authorize` would let it through. A grant is
 * within the caller's exactly when every permission it gives, the caller has: over the scopes
 * routes check today, plus a future action of each resource and a future resource (which
 * wildcards would give too, so `agents:*` is wider than `agents:read` + `agents:write`).
 */
import test from 'ava';
import fc from 'fast-check';
import { scopesBeyond } from '../../api/auth/grants.js';
import { knownScopes, scopeCatalogue } from '../../api/auth/scopes.js';
import { hasScope } from '../../api/http/authorize.js';

const RUNS = 3000;
const resources = Object.keys(scopeCatalogue);

/** Every permission a scope set could give, now or once a new action or resource exists. */
const universe = [...knownScopes, ...resources.map((r) => `${r}:future`), 'future:read'];
/** Scopes a key can be given: concrete ones, wildcards per resource, and `*`. */
const grantable = [...knownScopes, ...resources.map((r) => `${r}:*`), '*'];

const gives = (scopes: readonly string[] | null, permission: string) => scopes === null || hasScope(scopes, permission);
const scopeSet = fc.option(fc.uniqueArray(fc.constantFrom(...grantable), { maxLength: 6 }), { nil: null, freq: 6 });

test(`within the caller exactly when every permission it gives, the caller has (${RUNS} cases)`, (t) => {
  fc.assert(
    fc.property(scopeSet, scopeSet, (caller, wanted) => {
      const beyond = scopesBeyond(caller, wanted);
      const escapes = universe.filter((p) => gives(wanted, p) && !gives(caller, p));
      if ((beyond.length === 0) !== (escapes.length === 0)) return false;
      // Each scope named gives something the caller lacks; each one not named gives nothing more.
      if (wanted === null) return beyond.length === 0 || (beyond.length === 1 && beyond[0] === 'unrestricted');
      return wanted.every((w) => beyond.includes(w) === universe.some((p) => gives([w], p) && !gives(caller, p)));
    }),
    { numRuns: RUNS },
  );
  t.log(`${RUNS} pairs of scope sets over ${grantable.length} grantable scopes and ${universe.length} permissions`);
  t.pass();
});

test(`equal is always within (${RUNS} cases)`, (t) => {
  fc.assert(
    fc.property(scopeSet, (s) => scopesBeyond(s, s).length === 0),
    { numRuns: RUNS },
  );
  t.pass();
});
