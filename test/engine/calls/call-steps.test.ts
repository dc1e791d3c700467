import test from 'ava';
import { createLogger } from '../../../config/logger.js';
import { Call } from '../../../engine/calls/call.js';
import {
  runSteps,
  sleep,
  StepAborted,
  StepPreconditionError,
  untilAborted,
  type CallStep,
  type StepContext,
} from '../../../engine/calls/call-steps.js';

const log = createLogger({ level: 'silent', pretty: false });
const make = () => new Call({ id: 'c1', tenantId: 't', mode: 'live', agentId: 'a', sipCallId: 'x@y' }, log);

interface Ctx extends StepContext {
  ran: string[];
  leg?: true;
}
const context = (call: Call): Ctx => {
  const ctx: Ctx = { call, ran: [], has: (need) => (need === 'leg' ? !!ctx.leg : false) };
  return ctx;
};
const step = (name: string, run: CallStep<Ctx>['run'] = () => {}, needs: CallStep<Ctx>['needs'] = []): CallStep<Ctx> => ({
  name,
  needs,
  run: (ctx, signal) => {
    ctx.ran.push(name);
    return run(ctx, signal);
  },
});

test('steps run in order, each after the one before has finished', async (t) => {
  const ctx = context(make());
  const done = await runSteps(ctx, [
    step('media', async (c, signal) => {
      await sleep(10, signal);
      c.leg = true;
    }),
    step('ring', undefined, ['unanswered', 'leg']),
    step('answer', (c) => void c.call.transition('answered', '200 sent'), ['unanswered', 'leg']),
    step('echo', undefined, ['answered', 'leg']),
  ]);
  t.true(done);
  t.deepEqual(ctx.ran, ['media', 'ring', 'answer', 'echo']);
});

test('a call ended while a step awaits stops the queue: the await rejects, later steps never run', async (t) => {
  const call = make();
  const ctx = context(call);
  const started = Date.now();
  let afterSleep = false;
  const run = runSteps(ctx, [
    step('ring', async (_c, signal) => {
      await sleep(5_000, signal);
      afterSleep = true;
    }),
    step('answer'),
  ]);
  setTimeout(() => call.end({ reason: 'canceled', hangupBy: 'caller' }), 20);
  t.false(await run);
  t.false(afterSleep);
  t.deepEqual(ctx.ran, ['ring']);
  t.true(Date.now() - started < 1_000, 'the ring wait ended with the call, not after 5 s');
});

test('a step whose need is unmet is a bug: the queue rejects with StepPreconditionError', async (t) => {
  const ctx = context(make());
  const err = await t.throwsAsync(runSteps(ctx, [step('echo', undefined, ['answered'])]), { instanceOf: StepPreconditionError });
  t.is(err?.message, 'step echo needs answered');
  t.deepEqual(ctx.ran, []);
  await t.throwsAsync(runSteps(ctx, [step('ring', undefined, ['leg'])]), { message: 'step ring needs leg' });
});

test('an answered call does not meet "unanswered"', async (t) => {
  const call = make();
  call.transition('answered', '200 sent');
  await t.throwsAsync(runSteps(context(call), [step('answer', undefined, ['unanswered'])]), { instanceOf: StepPreconditionError });
});

test('a step that throws something else rejects the queue with it', async (t) => {
  const ctx = context(make());
  await t.throwsAsync(
    runSteps(ctx, [
      step('media', () => {
        throw new Error('boom');
      }),
      step('ring'),
    ]),
    { message: 'boom' },
  );
  t.deepEqual(ctx.ran, ['media']);
});

test('no step runs on a call that has already ended', async (t) => {
  const call = make();
  call.end({ reason: 'shutdown', hangupBy: 'system' });
  const ctx = context(call);
  t.false(await runSteps(ctx, [step('media')]));
  t.deepEqual(ctx.ran, []);
});

test('untilAborted: what arrives after the abort goes to `late`, a late failure is dropped', async (t) => {
  const ac = new AbortController();
  let resolveWork!: (v: string) => void;
  const work = new Promise<string>((r) => (resolveWork = r));
  const late: string[] = [];
  const waiting = untilAborted(work, ac.signal, (v) => late.push(v));
  ac.abort('canceled');
  const err = await t.throwsAsync(waiting, { instanceOf: StepAborted });
  t.is(err?.reason, 'canceled');
  resolveWork('leg');
  await work;
  await new Promise((r) => setImmediate(r));
  t.deepEqual(late, ['leg']);

  const ac2 = new AbortController();
  let rejectWork!: (e: Error) => void;
  const failing = untilAborted(new Promise<string>((_r, j) => (rejectWork = j)), ac2.signal, (v) => late.push(v));
  ac2.abort('bye');
  rejectWork(new Error('late failure'));
  await t.throwsAsync(failing, { instanceOf: StepAborted });
  t.deepEqual(late, ['leg']);
});

test('untilAborted passes a value or an error through while the signal is live', async (t) => {
  const ac = new AbortController();
  t.is(await untilAborted(Promise.resolve(7), ac.signal), 7);
  await t.throwsAsync(untilAborted(Promise.reject(new Error('no codec')), ac.signal), { message: 'no codec' });
  ac.abort('x');
  await t.throwsAsync(untilAborted(Promise.resolve(1), ac.signal), { instanceOf: StepAborted }, 'an aborted signal rejects at once');
});
