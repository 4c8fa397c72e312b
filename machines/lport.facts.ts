/**
 * The port-wide fold of the lport machine: what commands, apps, projections, time travel and
 * verify use to decide whether a port accepts an event and to fold it into the port's facts.
 *
 * It runs the compiled machine (./lport.fold.ts), not the rules: the subject view (the event's
 * chassis, else the deciding viewer) selects its transition in the machine's table, and the
 * transition's own actions update the facts. An event the machine has no enabled transition
 * for is refused, so removing a transition from the machine makes locus refuse that event.
 *
 * Facts are port-wide, so a view's state is a function of them (`impliedState`); every step
 * checks that the machine's target for the subject view is the state the new facts imply, so
 * a machine whose targets contradict its facts fails loudly instead of folding wrongly.
 */
import { type CompiledMachine, type CompiledTransition, compiledLport } from './lport.fold.js';
import {
  chassisOf,
  cloneFacts,
  type FactsAction,
  impliedState,
  type LportEvent,
  type LportStateName,
  type MutablePortFacts,
  makeRefusal,
  type PortFacts,
  type Refusal,
  refusalCodeOf,
} from './lport.rules.js';

/** The viewer of a port-wide event when none is named: a chassis that is in no claim or ack. */
export const PORT_VIEW = 'port';

export interface PortMachine {
  /** The compiled machine this fold runs. */
  readonly compiled: CompiledMachine;
  /** The state of `chassis`' view of a port with these facts. */
  stateOf(facts: PortFacts, chassis: string): LportStateName;
  /**
   * The refusal of `event` by the port, null when the machine accepts it. The refusal names
   * the event's chassis, else `viewer`, with that view's state.
   */
  refusal(portId: string, facts: PortFacts, event: LportEvent, viewer?: string): Refusal | null;
  /** Folds `event` into `facts` in place; false (facts untouched) when the machine refuses it. */
  applyInPlace(facts: MutablePortFacts, event: LportEvent): boolean;
  /** The facts after `event` (new arrays), undefined when the machine refuses it. */
  apply(facts: PortFacts, event: LportEvent): PortFacts | undefined;
}

/** The port-wide fold of a compiled lport machine (a variant one in tests). */
export function portMachineOf(compiled: CompiledMachine): PortMachine {
  const { states } = compiled;

  for (const state of Object.values(states)) {
    // Facts are updated once per event, whichever view decides; eventless transitions are
    // evaluated per view, so they must not update them.
    if (state.always.some((t) => t.actions.length > 0)) {
      throw new Error(
        `lport machine: eventless transitions of ${state.name} must not have actions`,
      );
    }
  }

  const select = (
    state: LportStateName,
    facts: PortFacts,
    me: string,
    event: LportEvent,
  ): CompiledTransition | undefined => {
    const candidates = states[state].on[event.type];
    for (let i = 0; i < candidates.length; i++) {
      const candidate = candidates[i] as CompiledTransition;
      if (candidate.guard(facts, me, event)) return candidate;
    }
    return undefined;
  };

  const settle = (state: LportStateName, facts: PortFacts, me: string, event: LportEvent) => {
    let current = state;
    for (let iteration = 0; ; iteration++) {
      const always = states[current].always;
      let taken: CompiledTransition | undefined;
      for (let i = 0; i < always.length && taken === undefined; i++) {
        const candidate = always[i] as CompiledTransition;
        if (candidate.guard(facts, me, event)) taken = candidate;
      }
      if (taken === undefined) return current;
      if (iteration >= compiled.maxEventless) {
        throw new Error(`lport machine: eventless transitions do not settle from ${state}`);
      }
      if (taken.target !== null) current = taken.target;
    }
  };

  const stateOf = (facts: PortFacts, chassis: string) => impliedState(facts, chassis);

  const refusal = (
    portId: string,
    facts: PortFacts,
    event: LportEvent,
    viewer: string = PORT_VIEW,
  ): Refusal | null => {
    const subject = chassisOf(event) ?? viewer;
    const state = stateOf(facts, subject);
    if (select(state, facts, subject, event) !== undefined) return null;
    const code = refusalCodeOf(facts, event) ?? 'no-transition';
    return makeRefusal(portId, subject, state, event, code, facts);
  };

  const applyInPlace = (facts: MutablePortFacts, event: LportEvent): boolean => {
    const subject = chassisOf(event) ?? PORT_VIEW;
    const state = stateOf(facts, subject);
    const taken = select(state, facts, subject, event);
    if (taken === undefined) return false;
    const actions = taken.actions;
    for (let i = 0; i < actions.length; i++) (actions[i] as FactsAction)(facts, event);
    const reached = settle(taken.target ?? state, facts, subject, event);
    const implied = stateOf(facts, subject);
    if (reached !== implied) {
      throw new Error(
        `lport machine: on ${event.type} the view of ${subject} goes from ${state} to ${reached}, but its facts make it ${implied}`,
      );
    }
    return true;
  };

  const apply = (facts: PortFacts, event: LportEvent): PortFacts | undefined => {
    const next = cloneFacts(facts);
    return applyInPlace(next, event) ? next : undefined;
  };

  return { compiled, stateOf, refusal, applyInPlace, apply };
}

/** The lport machine's port-wide fold: the one production runs. */
export const lportFacts: PortMachine = portMachineOf(compiledLport);

/**
 * The refusal of a domain event's machine events (toLportEvents) taken in order, all or none:
 * the first one refused, on the facts the ones before it left; null when all are accepted.
 */
export function refusalOfEach(
  machine: PortMachine,
  portId: string,
  facts: PortFacts,
  events: readonly LportEvent[],
  viewer?: string,
): Refusal | null {
  if (events.length === 1) return machine.refusal(portId, facts, events[0] as LportEvent, viewer);
  let current = facts;
  for (let i = 0; i < events.length; i++) {
    const event = events[i] as LportEvent;
    const refusal = machine.refusal(portId, current, event, viewer);
    if (refusal !== null) return refusal;
    if (i < events.length - 1) current = machine.apply(current, event) as PortFacts;
  }
  return null;
}

/** The facts after every one of `events` (new arrays), undefined when any is refused. */
export function applyEach(
  machine: PortMachine,
  facts: PortFacts,
  events: readonly LportEvent[],
): PortFacts | undefined {
  if (events.length === 1) return machine.apply(facts, events[0] as LportEvent);
  const next = cloneFacts(facts);
  for (const event of events) if (!machine.applyInPlace(next, event)) return undefined;
  return next;
}
