/**
 * The port aggregate: one logical port with its facts stored once and a state per chassis
 * that appeared in its events, driven by the compiled lport machine. A decider in Emmett's
 * style: `decide` says whether the port accepts an event (else the refusal naming port, view,
 * state and event), `evolve` folds an accepted event.
 *
 * Every view of the machine agrees on validity (it is port-wide), so one decision holds for
 * all; `evolve` still runs every view's own transition and checks that they agree.
 */
import {
  type CompiledTransition,
  compiledLport,
  refusalOfView,
  selectTransition,
  settle,
} from './lport.fold.js';
import {
  chassisOf,
  cloneFacts,
  type FactsAction,
  initialFacts,
  type LportEvent,
  type LportStateName,
  ownerOf,
  type PortFacts,
  type Refusal,
  TransitionRefusedError,
} from './lport.rules.js';

/** The view name used for port-wide events when no viewer is given: every view. */
export const ANY_VIEW = '*';

export interface PortState {
  readonly portId: string;
  readonly facts: PortFacts;
  /** The state of every chassis that appeared in the port's events. */
  readonly views: ReadonlyMap<string, LportStateName>;
  /** The state of a view of any chassis that has not appeared (unbound, distributed, deleted). */
  readonly others: LportStateName;
  /** Events folded so far. */
  readonly version: number;
}

export type Decision = { readonly ok: true } | Refusal;
const OK: Decision = Object.freeze({ ok: true });

// Facts are stored once and updated once per event, so eventless transitions (run per view)
// must not update them.
for (const state of Object.values(compiledLport.states)) {
  if (state.always.some((t) => t.actions.length > 0)) {
    throw new Error(`lport machine: eventless transitions of ${state.name} must not have actions`);
  }
}

export const initialPortState = (portId: string): PortState => ({
  portId,
  facts: initialFacts(),
  views: new Map(),
  others: compiledLport.initial,
  version: 0,
});

/** The state of the port as seen from `chassis`. */
export const viewOf = (port: PortState, chassis: string): LportStateName =>
  port.views.get(chassis) ?? port.others;

/** The chassis remote peers send to, null when the port is local nowhere. */
export const portOwner = (port: PortState): string | null => ownerOf(port.facts);

/**
 * Whether the port accepts `event`: ok, or the refusal. The refusal names the event's chassis,
 * else `viewer` (the chassis deciding), else `*`.
 */
export function decide(port: PortState, event: LportEvent, viewer?: string): Decision {
  const subject = chassisOf(event) ?? viewer ?? ANY_VIEW;
  const state = viewOf(port, subject);
  if (selectTransition(state, port.facts, subject, event) !== undefined) return OK;
  return refusalOfView(port.portId, subject, state, port.facts, event);
}

/** Folds an accepted event; throws `TransitionRefusedError` for a refused one. */
export function evolve(port: PortState, event: LportEvent): PortState {
  const decision = decide(port, event);
  if (!decision.ok) throw new TransitionRefusedError(decision);
  const subject = chassisOf(event);
  const chosen: [string, LportStateName, CompiledTransition][] = [];
  const pick = (chassis: string, state: LportStateName): CompiledTransition => {
    const t = selectTransition(state, port.facts, chassis, event);
    // Validity is port-wide: a view refusing what the subject accepts is a defect.
    if (t === undefined) {
      const refusal = refusalOfView(port.portId, chassis, state, port.facts, event);
      throw new Error(`lport machine: views disagree on port ${port.portId}: ${refusal.message}`);
    }
    chosen.push([chassis, state, t]);
    return t;
  };
  // Views in order of first appearance; the event's chassis joins them if new.
  for (const [chassis, state] of port.views) pick(chassis, state);
  if (subject !== undefined && !port.views.has(subject)) pick(subject, port.others);
  const forOthers = pick(ANY_VIEW, port.others);
  chosen.pop();

  const actions: readonly FactsAction[] = forOthers.actions;
  for (const [chassis, , t] of chosen) {
    if (t.actions !== actions) {
      throw new Error(
        `lport machine: views ${chassis} and ${ANY_VIEW} update the facts of port ${port.portId} differently on ${event.type}`,
      );
    }
  }
  const facts = cloneFacts(port.facts);
  for (const action of actions) action(facts, event);

  const views = new Map<string, LportStateName>();
  for (const [chassis, state, t] of chosen) {
    views.set(chassis, settle(t.target ?? state, facts, chassis, event));
  }
  const others = settle(forOthers.target ?? port.others, facts, ANY_VIEW, event);
  return { portId: port.portId, facts, views, others, version: port.version + 1 };
}

/** Decides, then evolves: the next state, or the refusal. */
export function apply(port: PortState, event: LportEvent): PortState | Refusal {
  const decision = decide(port, event);
  return decision.ok ? evolve(port, event) : decision;
}

/** Folds a port's events from the start (throws on a refused event). */
export function foldPort(portId: string, events: Iterable<LportEvent>): PortState {
  let port = initialPortState(portId);
  for (const event of events) port = evolve(port, event);
  return port;
}

/** The decider, as Emmett-style callers expect it. */
export const lportDecider = {
  initialState: initialPortState,
  decide,
  evolve,
} as const;
