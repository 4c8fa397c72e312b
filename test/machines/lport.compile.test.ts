/**
 * The compiled fold is derived from the machine's definition: its table is what the machine
 * says, a changed machine compiles to a changed table, and machine features the compiler does
 * not understand are rejected at load instead of being folded wrongly.
 */

import { describe, expect, it } from 'vitest';
import { or } from 'xstate';
import { compiledLport, compileMachine, foldView } from '../../machines/lport.fold.js';
import { lportMachine, lportSetup } from '../../machines/lport.machine.js';
import { lportEventTypes, lportGuards, lportStates } from '../../machines/lport.rules.js';
import { created, local, unlocal } from './support.js';

const summary = (machine = compiledLport) =>
  Object.fromEntries(
    lportStates.map((state) => [
      state,
      {
        ...Object.fromEntries(
          lportEventTypes
            .filter((type) => machine.states[state].on[type].length > 0)
            .map((type) => [
              type,
              machine.states[state].on[type].map(
                (t) => `${t.guardNames.join('&')} → ${t.target ?? '(stay)'} / ${t.actionNames}`,
              ),
            ]),
        ),
        ...(machine.states[state].always.length > 0
          ? { always: machine.states[state].always.map((t) => `${t.guardNames} → ${t.target}`) }
          : {}),
      },
    ]),
  );

/** Every state, unbound's transitions as given. */
const variant = (unbound: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  lportSetup.createMachine({
    id: 'variant',
    initial: 'unbound',
    context: ({ input }) => ({
      ...input,
      exists: false,
      deleted: false,
      requestedChassis: null,
      claims: [],
      acks: [],
      reasons: [],
    }),
    states: {
      unbound: { on: unbound as never, ...extra },
      local: {},
      remote: {},
      distributed: {},
      deleted: { type: 'final' },
    },
  });

describe('the compiled lport machine', () => {
  it('is the machine definition as a table', () => {
    expect(compiledLport.initial).toBe('unbound');
    expect(compiledLport.states.deleted.final).toBe(true);
    expect(summary()).toMatchSnapshot();
    // spot checks, in the machine's order
    expect(compiledLport.states.local.on.LocalDeleted.map((t) => [t.guardNames, t.target])).toEqual(
      [
        [['isMine', 'accepts'], 'remote'],
        [['accepts'], null],
      ],
    );
    expect(compiledLport.states.remote.always[0]?.guard).toBe(lportGuards.holdsNoAck);
  });

  it('resolves guard names to the rule functions the machine wraps', () => {
    const accepts = compiledLport.states.unbound.on.LogicalPortCreated[0];
    expect(accepts?.guard).toBe(lportGuards.accepts);
    for (const name of Object.keys(lportGuards)) {
      expect(lportMachine.implementations.guards).toHaveProperty(name);
    }
  });

  it('shares one action list so the port aggregate can check that views agree', () => {
    const lists = new Set(
      lportStates.flatMap((s) => lportEventTypes.flatMap((e) => compiledLport.states[s].on[e])),
    );
    expect(new Set([...lists].map((t) => t.actions)).size).toBe(1);
  });

  it('follows a changed machine', () => {
    const changed = compileMachine(
      variant({
        LogicalPortCreated: { guard: 'accepts', actions: 'applyFacts' },
        LocalCreated: { guard: 'accepts', target: 'remote', actions: 'applyFacts' },
      }),
    );
    expect(changed.states.unbound.on.LocalCreated.map((t) => t.target)).toEqual(['remote']);
    expect(changed.states.local.on.LocalDeleted).toEqual([]);
    expect(compiledLport.states.unbound.on.LocalCreated.map((t) => t.target)).toEqual([
      'local',
      null,
    ]);
  });

  it.each([
    [
      'an inline guard',
      { LocalCreated: { guard: () => true, actions: 'applyFacts' } },
      {},
      /unsupported guard/,
    ],
    ['or([...])', { LocalCreated: { guard: or(['accepts', 'isMine']) } }, {}, /unsupported guard/],
    ['an unknown guard', { LocalCreated: { guard: 'nope' } }, {}, /guard nope/],
    ['an inline action', { LocalCreated: { actions: () => {} } }, {}, /inline actions/],
    ['a wildcard', { '*': { guard: 'accepts' } }, {}, /wildcards/],
    ['entry actions', {}, { entry: 'applyFacts' }, /entry\/exit/],
    ['nested states', {}, { initial: 'x', states: { x: {} } }, /atomic or final/],
  ])('rejects %s', (_name, on, extra, message) => {
    expect(() => compileMachine(variant(on, extra))).toThrow(message);
  });

  it('folds the same whether from the start or resumed from an earlier view', () => {
    const events = [created(), local('a'), local('b'), unlocal('a')];
    const whole = foldView(events, { portId: 'p1', chassis: 'b' });
    const half = foldView(events.slice(0, 2), { portId: 'p1', chassis: 'b' });
    expect(foldView(events.slice(2), half.view)).toEqual(whole);
    expect(whole.view.state).toBe('local');
    // resuming never mutates the earlier view
    expect(half.view.facts.claims).toEqual(['a']);
  });
});
