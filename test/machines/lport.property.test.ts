/**
 * Property-based: random event sequences over a few chassis (mostly refused at random, the
 * rest driving the port through claims, migrations, acks and distributed reasons).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { foldView, initialView, step } from '../../machines/lport.fold.js';
import { foldPort, viewOf } from '../../machines/lport.port.js';
import { initialReducerView, reduceInPlace } from '../../machines/lport.reducer.js';
import {
  ackOf,
  impliedState,
  isRefusal,
  type LportEvent,
  ownerOf,
  type PortFacts,
} from '../../machines/lport.rules.js';
import {
  created,
  dist,
  Lockstep,
  local,
  portDeleted,
  remote,
  undist,
  unlocal,
  unremote,
  updated,
} from './support.js';

const chassisIds = ['a', 'b', 'c', 'd'] as const;
const chassisArb = fc.constantFrom(...chassisIds);
const requestedArb = fc.option(chassisArb, { nil: null });
const reasonArb = fc.constantFrom('dhcp:s1', 'router-interface:r1');

/** An ack of whoever owns the port when the event is generated (random acks are mostly stale). */
interface AckOwner {
  readonly ackOwner: string;
}

const intentArb: fc.Arbitrary<LportEvent | AckOwner> = fc.oneof(
  { weight: 2, arbitrary: requestedArb.map(created) },
  { weight: 6, arbitrary: requestedArb.map(updated) },
  { weight: 1, arbitrary: fc.constant(portDeleted()) },
  { weight: 16, arbitrary: chassisArb.map(local) },
  { weight: 10, arbitrary: chassisArb.map(unlocal) },
  { weight: 6, arbitrary: fc.tuple(chassisArb, chassisArb).map(([c, o]) => remote(c, o)) },
  { weight: 12, arbitrary: chassisArb.map((c) => ({ ackOwner: c })) },
  { weight: 8, arbitrary: chassisArb.map(unremote) },
  { weight: 4, arbitrary: reasonArb.map(dist) },
  { weight: 4, arbitrary: reasonArb.map(undist) },
);

/** Resolves owner-acks against the facts so far (the reducer folds them). */
function resolve(intents: readonly (LportEvent | AckOwner)[]): LportEvent[] {
  const view = initialReducerView({ portId: 'p1', chassis: 'a' });
  return intents.map((intent) => {
    const event =
      'ackOwner' in intent ? remote(intent.ackOwner, ownerOf(view) ?? intent.ackOwner) : intent;
    reduceInPlace(view, event);
    return event;
  });
}

const eventArb: fc.Arbitrary<LportEvent> = intentArb.map((i) => resolve([i])[0] as LportEvent);

/** Usually starts with LogicalPortCreated, so most sequences get somewhere. */
const sequenceArb: fc.Arbitrary<LportEvent[]> = fc.oneof(
  {
    weight: 9,
    arbitrary: fc
      .tuple(requestedArb, fc.array(intentArb, { maxLength: 80, size: 'medium' }))
      .map(([requested, rest]) => resolve([created(requested), ...rest])),
  },
  { weight: 1, arbitrary: fc.array(eventArb, { maxLength: 30 }) },
);

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x) => b.includes(x));

/** Every prefix's facts, through the compiled fold (its equivalence is checked below). */
function* prefixes(events: readonly LportEvent[], chassis = 'a') {
  let view = initialView({ portId: 'p1', chassis });
  for (const event of events) {
    const before = view;
    const next = step(view, event);
    const accepted = !isRefusal(next);
    if (accepted) view = next;
    yield { event, accepted, before: before.facts, after: view.facts, view };
  }
}

const checkFactInvariants = (facts: PortFacts) => {
  const owner = ownerOf(facts);
  // the owner is null or one of the active claims
  if (owner !== null) expect(facts.claims).toContain(owner);
  else expect(facts.claims).toEqual([]);
  // every ack held is for the current owner, and never by the owner itself
  for (const ack of facts.acks) {
    expect(ack.owner).toBe(owner);
    expect(ack.chassis).not.toBe(owner);
  }
  expect(new Set(facts.claims).size).toBe(facts.claims.length);
  // a distributed port is bound nowhere
  if (facts.reasons.length > 0) expect(facts.claims.length + facts.acks.length).toBe(0);
};

describe('lport machine properties', () => {
  it('the owner is always null or an active claim, and every ack is for the owner', () => {
    fc.assert(
      fc.property(sequenceArb, (events) => {
        for (const { after } of prefixes(events)) checkFactInvariants(after);
      }),
      { numRuns: 500 },
    );
  });

  it('the owner never changes while the claim set and the requested chassis stay put', () => {
    fc.assert(
      fc.property(sequenceArb, (events) => {
        for (const { before, after } of prefixes(events)) {
          if (
            !after.deleted &&
            sameSet(before.claims, after.claims) &&
            before.requestedChassis === after.requestedChassis
          ) {
            expect(ownerOf(after)).toBe(ownerOf(before));
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a deleted port accepts nothing', () => {
    fc.assert(
      fc.property(
        sequenceArb,
        fc.array(eventArb, { minLength: 1, maxLength: 20 }),
        (events, later) => {
          const { view } = foldView([...events, portDeleted()], { portId: 'p1', chassis: 'a' });
          if (!view.facts.exists) return; // deleting a port that never existed is refused
          expect(view.state).toBe('deleted');
          const after = foldView([...later, created()], view);
          expect(after.view).toEqual(view);
          expect(after.refusals.map((r) => r.refusal.code)).toEqual(
            [...later, created()].map(() => 'port-deleted'),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('every view is in the state its facts imply', () => {
    fc.assert(
      fc.property(sequenceArb, chassisArb, (events, chassis) => {
        for (const { view } of prefixes(events, chassis)) {
          expect(view.state).toBe(impliedState(view.facts, chassis));
          if (view.state === 'remote') expect(ackOf(view.facts, chassis)).toBe(ownerOf(view.facts));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('compiled fold ≡ XState transition() ≡ reducer ≡ port aggregate on every prefix', () => {
    fc.assert(
      fc.property(sequenceArb, (events) => {
        // every view of the port, stepped in lockstep: same decision, state, facts, owner
        const views = chassisIds.map((chassis) => new Lockstep(chassis));
        const accepted: LportEvent[] = [];
        for (const event of events) {
          const decisions = views.map((v) => v.step(event));
          // validity is port-wide: every view takes or refuses alike, with the same reason
          const codes = new Set(decisions.map((d) => d?.code ?? null));
          expect(codes.size).toBe(1);
          if (decisions[0] === null) accepted.push(event);
        }
        // one aggregate holds every view's state, and the same facts
        const port = foldPort('p1', accepted);
        for (const v of views) {
          const [seen] = v.observe();
          expect(viewOf(port, v.chassis)).toBe(seen?.state);
          expect(port.facts).toEqual(seen?.facts);
        }
        expect(viewOf(port, 'never-seen')).toBe(impliedState(port.facts, 'never-seen'));
      }),
      { numRuns: 300 },
    );
    // CPU-bound (300 sequences through five engines): a busy machine stretches it past the default.
  }, 120_000);
});
