/**
 * Properties of the SIP source guard (engine/sip/abuse/source-guard.ts), driven by fast-check on
 * its own clock (a number the test advances): no bucket admits more than its burst plus its rate,
 * a paced source is never refused, memory stays within `maxSources` whatever the addresses, and
 * failures tarpit then ban exactly as the settings say (checked against a small model), never
 * an exempt source, and every ban expires.
 */
import test from 'ava';
import fc from 'fast-check';
import { SourceGuard, type AbuseOptions } from '../../../engine/sip/abuse/source-guard.js';

const RUNS = 300;

const OPTIONS: AbuseOptions = {
  requests: { rate: 50, burst: 10 },
  dialogRequests: { rate: 200, burst: 40 },
  failureWindowMs: 1000,
  tarpitAfter: 3,
  tarpitMs: 100,
  tarpitMaxMs: 400,
  banAfter: 6,
  challengeBanAfter: 4,
  banMs: 5000,
  maxSources: 100,
  exempt: ['10.9.0.0/16'],
};

function guardWithClock(opts: AbuseOptions = OPTIONS) {
  const clock = { now: 1_000_000 };
  return { guard: new SourceGuard(opts, () => clock.now), clock };
}

const failure = (cseq: number) => ({ status: 403, callId: 'c', cseq, challenge: undefined });

test(`no bucket admits more than burst + rate × elapsed (${RUNS} runs of 10-40 bursts of 1-15 requests)`, (t) => {
  // Bursts of 1-15 requests 0-2 ms apart, after pauses short or long enough to refill a bucket.
  const burst = fc.record({
    src: fc.integer({ min: 0, max: 3 }),
    dialog: fc.boolean(),
    pause: fc.oneof(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 200, max: 1000 })),
    count: fc.integer({ min: 1, max: 15 }),
    dt: fc.integer({ min: 0, max: 2 }),
  });
  fc.assert(
    fc.property(fc.array(burst, { minLength: 10, maxLength: 40 }), (bursts) => {
      const { guard, clock } = guardWithClock();
      let episodes = 0;
      guard.on('limited', () => episodes++);
      // Admission times per source and bucket.
      const admitted = new Map<string, number[]>();
      let sent = 0;
      for (const b of bursts) {
        clock.now += b.pause;
        for (let i = 0; i < b.count; i++, sent++) {
          clock.now += b.dt;
          const key = `${b.src}/${b.dialog}`;
          if (guard.admitRequest(`192.0.2.${b.src}`, b.dialog)) admitted.set(key, [...(admitted.get(key) ?? []), clock.now]);
        }
      }
      // Every window of admissions, not only the whole run: a bucket that ever held more than
      // its burst shows here.
      for (const [key, times] of admitted) {
        const limit = key.endsWith('true') ? OPTIONS.dialogRequests : OPTIONS.requests;
        for (let i = 0; i < times.length; i++) {
          for (let j = i; j < times.length; j++) {
            if (j - i + 1 > limit.burst + (limit.rate * (times[j]! - times[i]!)) / 1000 + 1e-9) return false;
          }
        }
      }
      const s = guard.stats();
      const dropped = s.requestsRateLimited + s.dialogRequestsRateLimited;
      // One 'limited' event (one log line) per episode of drops, not one per drop.
      if (episodes > dropped || (dropped > 0) !== (episodes > 0)) return false;
      return dropped + [...admitted.values()].reduce((a, b) => a + b.length, 0) === sent;
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test(`a source that keeps to the rate is never refused, however it bursts first (${RUNS} runs)`, (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 1, max: 200 }), (burst, paced) => {
      const { guard, clock } = guardWithClock();
      for (let i = 0; i < burst; i++) guard.admitRequest('192.0.2.1', false);
      // An empty bucket refills one token per 1000/rate ms.
      clock.now += 1000 / OPTIONS.requests.rate;
      for (let i = 0; i < paced; i++) {
        if (!guard.admitRequest('192.0.2.1', false)) return false;
        clock.now += 1000 / OPTIONS.requests.rate;
      }
      return true;
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test(`memory stays within maxSources whatever the addresses (${RUNS} runs of 150-500 sources)`, (t) => {
  fc.assert(
    fc.property(fc.array(fc.record({ a: fc.integer({ min: 0, max: 65535 }), fail: fc.boolean(), dt: fc.integer({ min: 0, max: 100 }) }), { minLength: 150, maxLength: 500 }), (steps) => {
      const { guard, clock } = guardWithClock({ ...OPTIONS, banAfter: 1 });
      for (const s of steps) {
        clock.now += s.dt;
        const address = `198.51.${s.a >> 8}.${s.a & 255}`;
        guard.admitRequest(address, false);
        if (s.fail) guard.onResponse(address, failure(1));
        const st = guard.stats();
        if (st.sourcesTracked > OPTIONS.maxSources || st.bansActive > OPTIONS.maxSources) return false;
      }
      return true;
    }),
    // Shrinking 500-step runs would outlast the test's timeout: the first counterexample is reported.
    { numRuns: RUNS, endOnFailure: true },
  );
  t.pass();
});

test(`failures tarpit then ban, unanswered challenges ban, as the model says; never an exempt source; bans expire (${RUNS} runs of 10-40 answers)`, (t) => {
  const answer = fc.record({
    status: fc.constantFrom(200, 401, 403, 404, 407),
    credentials: fc.boolean(),
    stale: fc.boolean(),
    dt: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 1500 })),
  });
  fc.assert(
    fc.property(fc.array(answer, { minLength: 10, maxLength: 40 }), fc.boolean(), (answers, exempt) => {
      const { guard, clock } = guardWithClock();
      const address = exempt ? '10.9.1.2' : '192.0.2.7';
      // The model: failure and challenge counts that restart after a quiet window, a ban at
      // banAfter failures or challengeBanAfter challenges; an authentication clears challenges.
      let failures = 0;
      let last = -Infinity;
      let challenges = 0;
      let lastChallenge = -Infinity;
      let bannedUntil = -Infinity;
      let cseq = 0;
      for (const a of answers) {
        clock.now += a.dt;
        cseq++;
        if (a.credentials) guard.noteCredentials(address, 'c', cseq);
        const res = { status: a.status, callId: 'c', cseq, challenge: a.stale ? 'Digest realm="x", stale=true' : 'Digest realm="x"' };
        const delay = guard.onResponse(address, res);
        const banned = clock.now < bannedUntil;
        if (banned) {
          if (delay !== null) return false;
          continue;
        }
        const challenge = a.status === 401 || a.status === 407;
        const verdict = a.status === 403 || (challenge && a.credentials && !a.stale) ? 'failure' : challenge ? 'challenge' : a.credentials ? 'authenticated' : 'other';
        if (verdict !== 'failure' || exempt) {
          if (delay !== 0) return false;
          if (exempt) continue;
          if (verdict === 'authenticated') challenges = 0;
          if (verdict === 'challenge') {
            if (clock.now - lastChallenge > OPTIONS.failureWindowMs) challenges = 0;
            challenges++;
            lastChallenge = clock.now;
            if (challenges >= OPTIONS.challengeBanAfter) {
              bannedUntil = clock.now + OPTIONS.banMs;
              [failures, last, challenges, lastChallenge] = [0, -Infinity, 0, -Infinity];
            }
          }
          if (guard.isBanned(address) !== clock.now < bannedUntil) return false;
          continue;
        }
        if (clock.now - last > OPTIONS.failureWindowMs) failures = 0;
        failures++;
        last = clock.now;
        const expected = failures < OPTIONS.tarpitAfter ? 0 : Math.min(OPTIONS.tarpitMaxMs, OPTIONS.tarpitMs * 2 ** (failures - OPTIONS.tarpitAfter));
        if (delay !== expected) return false;
        if (failures >= OPTIONS.banAfter) {
          bannedUntil = clock.now + OPTIONS.banMs;
          [failures, last, challenges, lastChallenge] = [0, -Infinity, 0, -Infinity];
        }
        if (guard.isBanned(address) !== clock.now < bannedUntil) return false;
      }
      clock.now = Math.max(clock.now, bannedUntil);
      return !guard.isBanned(address) && guard.stats().bansActive === 0;
    }),
    { numRuns: RUNS },
  );
  t.pass();
});
