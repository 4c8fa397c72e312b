/**
 * Shared pieces of the lport machine tests: event builders, the sample events the model-based
 * tests explore, and one `Engine` interface over the five implementations that must agree:
 * XState's `transition()`, the compiled fold, the hand-written reducer, the port aggregate and
 * the port-wide fold production runs.
 */
import { expect } from 'vitest';
import { lportFacts } from '../../machines/lport.facts.js';
import { type FoldView, initialView, step } from '../../machines/lport.fold.js';
import {
  createLportView,
  type LportSnapshot,
  stateOf,
  stepLportView,
} from '../../machines/lport.machine.js';
import {
  decide,
  evolve,
  initialPortState,
  type PortState,
  viewOf,
} from '../../machines/lport.port.js';
import { initialReducerView, type ReducerView, reduce } from '../../machines/lport.reducer.js';
import {
  type Ack,
  initialFacts,
  isRefusal,
  type LportEvent,
  type LportStateName,
  ownerOf,
  type PortFacts,
  type Refusal,
} from '../../machines/lport.rules.js';

export const created = (requestedChassis: string | null = null): LportEvent => ({
  type: 'LogicalPortCreated',
  requestedChassis,
});
export const updated = (requestedChassis: string | null): LportEvent => ({
  type: 'LogicalPortUpdated',
  requestedChassis,
});
export const portDeleted = (): LportEvent => ({ type: 'LogicalPortDeleted' });
export const local = (chassis: string): LportEvent => ({ type: 'LocalCreated', chassis });
export const unlocal = (chassis: string): LportEvent => ({ type: 'LocalDeleted', chassis });
export const remote = (chassis: string, owner: string): LportEvent => ({
  type: 'RemoteCreated',
  chassis,
  owner,
});
export const unremote = (chassis: string): LportEvent => ({ type: 'RemoteDeleted', chassis });
export const dist = (reason: string): LportEvent => ({ type: 'DistributedCreated', reason });
export const undist = (reason: string): LportEvent => ({ type: 'DistributedDeleted', reason });

export const CHASSIS = ['a', 'b', 'c'] as const;
export const REASONS = ['dhcp:r1', 'router-interface:r2'] as const;

/** The events the model-based tests offer the machine in every state. */
export const sampleEvents: readonly LportEvent[] = [
  ...[null, 'a', 'b'].flatMap((r) => [created(r), updated(r)]),
  portDeleted(),
  ...CHASSIS.map(local),
  ...CHASSIS.map(unlocal),
  ...CHASSIS.flatMap((c) => CHASSIS.map((owner) => remote(c, owner))),
  ...CHASSIS.map(unremote),
  ...REASONS.map(dist),
  ...REASONS.map(undist),
];

/** Facts in plain comparable form. */
export interface Facts {
  readonly exists: boolean;
  readonly deleted: boolean;
  readonly requestedChassis: string | null;
  readonly claims: readonly string[];
  readonly acks: readonly Ack[];
  readonly reasons: readonly string[];
}

export const plainFacts = (facts: PortFacts): Facts => ({
  exists: facts.exists,
  deleted: facts.deleted,
  requestedChassis: facts.requestedChassis,
  claims: [...facts.claims],
  acks: facts.acks.map((a) => ({ chassis: a.chassis, owner: a.owner })),
  reasons: [...facts.reasons],
});

/** What every engine shows of one view. */
export interface Observation {
  readonly state: LportStateName;
  readonly facts: Facts;
  readonly owner: string | null;
}

export interface StepResult<S> {
  readonly next: S;
  readonly refusal: Refusal | null;
}

/** One implementation of a view, behind a common face. */
export interface Engine<S> {
  readonly name: string;
  start(chassis: string): S;
  step(view: S, event: LportEvent): StepResult<S>;
  observe(view: S): Observation;
}

export const PORT = 'p1';

const observation = (state: LportStateName, facts: PortFacts): Observation => ({
  state,
  facts: plainFacts(facts),
  owner: ownerOf(facts),
});

export const xstateEngine: Engine<LportSnapshot> = {
  name: 'xstate',
  start: (chassis) => createLportView({ portId: PORT, chassis }),
  step: (snapshot, event) => {
    const { snapshot: next, refusal } = stepLportView(snapshot, event);
    return { next, refusal };
  },
  observe: (snapshot) => observation(stateOf(snapshot), snapshot.context),
};

export const compiledEngine: Engine<FoldView> = {
  name: 'compiled',
  start: (chassis) => initialView({ portId: PORT, chassis }),
  step: (view, event) => {
    const next = step(view, event);
    return isRefusal(next) ? { next: view, refusal: next } : { next, refusal: null };
  },
  observe: (view) => observation(view.state, view.facts),
};

export const reducerEngine: Engine<ReducerView> = {
  name: 'reducer',
  start: (chassis) => initialReducerView({ portId: PORT, chassis }),
  step: (view, event) => {
    const next = reduce(view, event);
    return isRefusal(next) ? { next: view, refusal: next } : { next, refusal: null };
  },
  observe: (view) => observation(view.state, view),
};

/** The port aggregate, looked at from one chassis. */
export interface PortView {
  readonly port: PortState;
  readonly chassis: string;
}

export const portEngine: Engine<PortView> = {
  name: 'port',
  start: (chassis) => ({ port: initialPortState(PORT), chassis }),
  step: (view, event) => {
    const decision = decide(view.port, event, view.chassis);
    if (!decision.ok) return { next: view, refusal: decision };
    return { next: { port: evolve(view.port, event), chassis: view.chassis }, refusal: null };
  },
  observe: (view) => observation(viewOf(view.port, view.chassis), view.port.facts),
};

/** The port-wide fold (machines/lport.facts.ts), looked at from one chassis. */
export interface FactsView {
  readonly facts: PortFacts;
  readonly chassis: string;
}

export const factsEngine: Engine<FactsView> = {
  name: 'facts',
  start: (chassis) => ({ facts: initialFacts(), chassis }),
  step: (view, event) => {
    const refusal = lportFacts.refusal(PORT, view.facts, event, view.chassis);
    if (refusal !== null) return { next: view, refusal };
    const facts = lportFacts.apply(view.facts, event);
    if (facts === undefined)
      throw new Error(`facts fold: accepted ${event.type} but did not apply it`);
    return { next: { facts, chassis: view.chassis }, refusal: null };
  },
  observe: (view) => observation(lportFacts.stateOf(view.facts, view.chassis), view.facts),
};

export const engines = [
  xstateEngine,
  compiledEngine,
  reducerEngine,
  portEngine,
  factsEngine,
] as const;

/** All five engines' views of one chassis, stepped together. */
export class Lockstep {
  private views: unknown[];

  constructor(readonly chassis: string) {
    this.views = engines.map((engine) => (engine as Engine<unknown>).start(chassis));
  }

  observe(): Observation[] {
    return engines.map((engine, i) => (engine as Engine<unknown>).observe(this.views[i]));
  }

  /** Steps every engine, checks that they agree, and returns the (common) refusal. */
  step(event: LportEvent): Refusal | null {
    const results = engines.map((engine, i) =>
      (engine as Engine<unknown>).step(this.views[i], event),
    );
    this.views = results.map((r) => r.next);
    const [first, ...rest] = results.map((r) => r.refusal);
    for (const [i, other] of rest.entries()) {
      expect(other, `${engines[i + 1]?.name} vs xstate on ${event.type}`).toEqual(first);
    }
    const [seen, ...others] = this.observe();
    for (const [i, other] of others.entries()) {
      expect(other, `${engines[i + 1]?.name} vs xstate after ${event.type}`).toEqual(seen);
    }
    return first ?? null;
  }

  /** The XState engine's current snapshot. */
  snapshot(): LportSnapshot {
    return this.views[0] as LportSnapshot;
  }

  /** Every engine's decision on `event`, without stepping. */
  probe(event: LportEvent): (Refusal | null)[] {
    return engines.map(
      (engine, i) => (engine as Engine<unknown>).step(this.views[i], event).refusal,
    );
  }
}
