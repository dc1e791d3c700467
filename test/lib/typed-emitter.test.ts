import { EventEmitter } from 'node:events';
import test from 'ava';
import fc from 'fast-check';
import { TypedEmitter } from '../../lib/typed-emitter.js';

type Events = { e: [number] };

/** What a listener does when called: remove a listener (by index), add one, or nothing. */
type Action = { kind: 'remove'; target: number } | { kind: 'add'; once: boolean } | { kind: 'none' };

/**
 * Runs the same listeners, with the same actions while an emit runs, on `on`/`off`/`once` of an
 * emitter; returns which listener heard which emit. Node's EventEmitter is the model: an emit
 * calls the listeners present when it began, whatever they add or remove meanwhile.
 */
function trace(
  emitter: { on(l: (n: number) => void): void; once(l: (n: number) => void): void; off(l: (n: number) => void): void; emit(n: number): void },
  plan: { once: boolean; action: Action }[],
  emits: number,
): string[] {
  const heard: string[] = [];
  // Listeners added with `on`, the ones a listener may remove with `off` (ours removes a `once`
  // listener through the function `once` returns, not through `off`).
  const listeners: ((n: number) => void)[] = [];
  const make = (i: number, action: Action) => {
    const l = (n: number) => {
      heard.push(`${i}:${n}`);
      if (action.kind === 'remove') {
        const target = listeners[action.target % listeners.length];
        if (target) emitter.off(target);
      } else if (action.kind === 'add' && listeners.length < 40) {
        const added = make(100 + heard.length, { kind: 'none' });
        if (action.once) emitter.once(added);
        else {
          listeners.push(added);
          emitter.on(added);
        }
      }
    };
    return l;
  };
  for (const [i, p] of plan.entries()) {
    const l = make(i, p.action);
    if (p.once) emitter.once(l);
    else {
      listeners.push(l);
      emitter.on(l);
    }
  }
  for (let n = 0; n < emits; n++) emitter.emit(n);
  return heard;
}

const action = fc.oneof(
  fc.record({ kind: fc.constant('remove' as const), target: fc.nat(10) }),
  fc.record({ kind: fc.constant('add' as const), once: fc.boolean() }),
  fc.constant({ kind: 'none' as const }),
);

test('an emit calls the listeners present when it began, like node:events, whatever they add or remove (one listener or several)', (t) => {
  fc.assert(
    fc.property(fc.array(fc.record({ once: fc.boolean(), action }), { maxLength: 5 }), fc.integer({ min: 1, max: 4 }), (plan, emits) => {
      const ours = new TypedEmitter<Events>();
      const ourTrace = trace(
        {
          on: (l) => void ours.on('e', l),
          once: (l) => void ours.once('e', l),
          off: (l) => ours.off('e', l),
          emit: (n) => ours.emit('e', n),
        },
        plan,
        emits,
      );
      const node = new EventEmitter();
      const nodeTrace = trace({ on: (l) => node.on('e', l), once: (l) => node.once('e', l), off: (l) => node.off('e', l), emit: (n) => node.emit('e', n) }, plan, emits);
      return JSON.stringify(ourTrace) === JSON.stringify(nodeTrace);
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('a listener that throws is reported and the others still hear the event', (t) => {
  const errors: string[] = [];
  const e = new TypedEmitter<Events>((event, error) => errors.push(`${event}:${(error as Error).message}`));
  const heard: number[] = [];
  e.on('e', () => {
    throw new Error('boom');
  });
  e.on('e', (n) => heard.push(n));
  e.emit('e', 1);
  t.deepEqual(errors, ['e:boom']);
  t.deepEqual(heard, [1]);
  const alone = new TypedEmitter<Events>((event) => errors.push(`alone:${event}`));
  alone.on('e', () => {
    throw new Error('x');
  });
  alone.emit('e', 2);
  t.deepEqual(errors, ['e:boom', 'alone:e']);
});
