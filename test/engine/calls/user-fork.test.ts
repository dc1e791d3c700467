/**
 * The response a forked call's caller gets when no binding answered (engine/calls/registrar/
 * user-fork.ts `bestFailure`, RFC 3261 §16.7 step 6, then `refusalFor`): a property over any mix
 * of branch outcomes, and the cases the issue names.
 */
import test from 'ava';
import fc from 'fast-check';
import { bestFailure, refusalFor } from '../../../engine/calls/registrar/user-fork.js';

type Failure = Parameters<typeof bestFailure>[0][number];

const refused = (status: number): Failure => ({ kind: 'failed', reason: `target answered ${status}`, status });
const ringOut: Failure = { kind: 'failed', reason: 'no_answer', status: null };
const canceled: Failure = { kind: 'failed', reason: 'call_ended', status: null };
const noFinal: Failure = { kind: 'failed', reason: 'dial_error', status: null };

test('every binding busy or declining: the caller gets that; 603 beats 486; 486 beats a ring-out; all rang out is 480', (t) => {
  t.like(bestFailure([refused(486), refused(486)]), { reason: 'refused', status: 486 });
  t.like(bestFailure([refused(486), refused(603)]), { reason: 'refused', status: 603 });
  t.like(bestFailure([refused(603), refused(603)]), { reason: 'refused', status: 603 });
  t.like(bestFailure([ringOut, refused(486)]), { reason: 'refused', status: 486 });
  t.like(bestFailure([ringOut, ringOut]), { reason: 'no_answer', status: null });
  t.is(refusalFor(bestFailure([ringOut, ringOut])), 480);
  t.like(bestFailure([canceled, canceled]), { reason: 'call_ended' });
  t.like(bestFailure([noFinal, canceled]), { reason: 'dial_error' });
  t.is(refusalFor(bestFailure([refused(407), refused(401)])), 480, 'a challenge is the engine’s business, not the caller’s');
});

test('property: the chosen response is one a branch gave, a 6xx whenever there is one, never below 300; the caller is always sent a 4xx-6xx', (t) => {
  const RUNS = 2000;
  const failure = fc.oneof(
    fc.integer({ min: 300, max: 699 }).map(refused),
    fc.constantFrom(ringOut, canceled, noFinal),
    fc.integer({ min: 100, max: 299 }).map(refused),
  );
  fc.assert(
    fc.property(fc.array(failure, { minLength: 1, maxLength: 6 }), (fs) => {
      const best = bestFailure(fs);
      const statuses = fs.map((f) => f.status).filter((s): s is number => s !== null && s >= 300);
      if (best.status !== null) {
        if (!statuses.includes(best.status)) return false;
        if (statuses.some((s) => s >= 600) && best.status < 600) return false;
      } else if (statuses.length) return false;
      const sent = refusalFor(best);
      return sent >= 400 && sent <= 699;
    }),
    { numRuns: RUNS },
  );
  t.log(`${RUNS} outcome mixes of 1 to 6 branches per run`);
  t.pass();
});
