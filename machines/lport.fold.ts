/**
 * The fast fold of the lport machine, compiled from the machine's own definition.
 *
 * At module load `compileMachine` walks `lportMachine.root.states`: for every state and event
 * type it takes the machine's transitions in document order (guard names, `and([...])` of
 * guard names, target, action names), resolves every name to the plain function in
 * ./lport.rules.ts that the machine's `setup()` wraps, and builds a lookup table
 * `state × event type → ordered candidates`, plus each state's eventless (`always`)
 * candidates. There is no hand-written transition table here: change the machine and the fold
 * follows; use a machine feature the compiler does not know and loading this module throws.
 *
 * The fold then does what XState's `transition()` does for this machine (first enabled
 * candidate, its actions, its target, then eventless transitions until stable), on facts it
 * owns and updates in place, with no snapshot objects.
 */
import { type AnyStateMachine, and } from 'xstate';
import { type LportInput, lportMachine } from './lport.machine.js';
import {
  chassisOf,
  cloneFacts,
  type FactsAction,
  impliedState,
  initialFacts,
  type LportEvent,
  type LportEventType,
  type LportStateName,
  lportActions,
  lportEventTypes,
  lportGuards,
  lportStates,
  type MutablePortFacts,
  makeRefusal,
  type PortFacts,
  type Refusal,
  refusalCodeOf,
  type ViewGuard,
} from './lport.rules.js';

/** One candidate transition, resolved to the rule functions. */
export interface CompiledTransition {
  /** The conjunction of the guards below (always true when there is none). */
  readonly guard: ViewGuard;
  readonly guardNames: readonly string[];
  /** The target state; null for a targetless (self, facts-only) transition. */
  readonly target: LportStateName | null;
  /** The target's compiled state (null when targetless), so folds skip a lookup by name. */
  readonly to: CompiledState | null;
  readonly actions: readonly FactsAction[];
  readonly actionNames: readonly string[];
}

export interface CompiledState {
  readonly name: LportStateName;
  readonly final: boolean;
  /** Candidates per event type, in the machine's order; empty when the state has none. */
  readonly on: Readonly<Record<LportEventType, readonly CompiledTransition[]>>;
  /** Eventless candidates, checked after every transition until none is enabled. */
  readonly always: readonly CompiledTransition[];
}

export interface CompiledMachine {
  readonly initial: LportStateName;
  readonly states: Readonly<Record<LportStateName, CompiledState>>;
  /** Bound on consecutive eventless transitions (XState's `maxIterations` guard). */
  readonly maxEventless: number;
}

/** The `check` XState gives every `and([...])` guard: how the compiler recognises one. */
const andCheck = (and([]) as unknown as { check: unknown }).check;

interface GuardLike {
  readonly type?: unknown;
  readonly params?: unknown;
  readonly guards?: unknown;
  readonly check?: unknown;
}

interface TransitionLike {
  readonly guard?: unknown;
  readonly target?: readonly { readonly key: string; readonly parent?: unknown }[];
  readonly actions: readonly unknown[];
  readonly reenter: boolean;
}

interface StateNodeLike {
  readonly key: string;
  readonly type: string;
  readonly parent?: unknown;
  readonly entry: readonly unknown[];
  readonly exit: readonly unknown[];
  readonly invoke: readonly unknown[];
  readonly after: readonly unknown[];
  readonly transitions: ReadonlyMap<string, readonly TransitionLike[]>;
  readonly always?: readonly TransitionLike[];
  readonly states: Readonly<Record<string, StateNodeLike>>;
}

const isStateName = (name: string): name is LportStateName =>
  (lportStates as readonly string[]).includes(name);
const isEventType = (type: string): type is LportEventType =>
  (lportEventTypes as readonly string[]).includes(type);

function conjunction(guards: readonly ViewGuard[]): ViewGuard {
  const [first, second] = guards;
  if (first === undefined) return () => true;
  if (second === undefined) return first;
  if (guards.length === 2)
    return (facts, me, event) => first(facts, me, event) && second(facts, me, event);
  return (facts, me, event) => {
    for (const guard of guards) if (!guard(facts, me, event)) return false;
    return true;
  };
}

/**
 * Compiles a machine built like `lportMachine` (flat atomic/final states, named guards,
 * `and([...])` of named guards, named actions, targets among the root's children).
 */
export function compileMachine(
  machine: AnyStateMachine = lportMachine,
  guards: Readonly<Record<string, ViewGuard>> = lportGuards,
  actions: Readonly<Record<string, FactsAction>> = lportActions,
): CompiledMachine {
  const where = (state: string, event: string) => `lport machine, state ${state}, ${event}`;
  const implemented = machine.implementations as {
    guards: Record<string, unknown>;
    actions: Record<string, unknown>;
  };

  const guardNamesOf = (guard: unknown, at: string): string[] => {
    if (guard === undefined) return [];
    if (typeof guard === 'string') return [guard];
    const like = guard as GuardLike;
    if (typeof guard === 'function' && like.check === andCheck && Array.isArray(like.guards)) {
      return like.guards.flatMap((inner: unknown) => guardNamesOf(inner, at));
    }
    if (typeof guard === 'object' && guard !== null && typeof like.type === 'string') {
      if (like.params !== undefined) throw new Error(`${at}: parameterised guards unsupported`);
      return [like.type];
    }
    throw new Error(`${at}: unsupported guard ${String(guard)} (use names or and([...names]))`);
  };

  const resolveGuard = (name: string, at: string): ViewGuard => {
    const guard = guards[name];
    if (guard === undefined) throw new Error(`${at}: guard ${name} has no rule implementation`);
    if (implemented.guards[name] === undefined) {
      throw new Error(`${at}: guard ${name} is not implemented by the machine`);
    }
    return guard;
  };

  const resolveAction = (action: unknown, at: string): [string, FactsAction] => {
    const name =
      typeof action === 'string'
        ? action
        : typeof action === 'object' && action !== null && 'type' in action
          ? (action as { type: unknown }).type
          : undefined;
    if (typeof name !== 'string') throw new Error(`${at}: inline actions are unsupported`);
    if ((action as { params?: unknown }).params !== undefined) {
      throw new Error(`${at}: parameterised actions are unsupported`);
    }
    const fn = actions[name];
    if (fn === undefined) throw new Error(`${at}: action ${name} has no rule implementation`);
    if (implemented.actions[name] === undefined) {
      throw new Error(`${at}: action ${name} is not implemented by the machine`);
    }
    return [name, fn];
  };

  const root = machine.root as unknown as StateNodeLike;
  // Interned action lists: candidates with the same actions share one array, so callers (the
  // port aggregate) can check by identity that every view applies the same fact update.
  const actionLists = new Map<string, readonly FactsAction[]>();

  const pending: { target: LportStateName | null; to: CompiledState | null }[] = [];
  const compileTransition = (t: TransitionLike, at: string): CompiledTransition => {
    const guardNames = guardNamesOf(t.guard, at);
    const guard = conjunction(guardNames.map((name) => resolveGuard(name, at)));
    let target: LportStateName | null = null;
    if (t.target !== undefined) {
      const [node, ...more] = t.target;
      if (node === undefined || more.length > 0 || node.parent !== root || !isStateName(node.key)) {
        throw new Error(`${at}: targets must be one of the root's states`);
      }
      target = node.key;
    }
    const resolved = t.actions.map((action) => resolveAction(action, at));
    const actionNames = resolved.map(([name]) => name);
    const key = actionNames.join('\u0000');
    let list = actionLists.get(key);
    if (list === undefined) {
      list = Object.freeze(resolved.map(([, fn]) => fn));
      actionLists.set(key, list);
    }
    const compiled = { guard, guardNames, target, to: null, actions: list, actionNames };
    pending.push(compiled);
    return compiled;
  };

  if (root.transitions.size > 0 || (root.always?.length ?? 0) > 0) {
    throw new Error('lport machine: root-level transitions are unsupported');
  }
  const initial = (machine.config as { initial?: unknown }).initial;
  if (typeof initial !== 'string' || !isStateName(initial)) {
    throw new Error('lport machine: the initial state must be one of the lport states');
  }

  const states = {} as Record<LportStateName, CompiledState>;
  for (const [key, node] of Object.entries(root.states)) {
    if (!isStateName(key)) throw new Error(`lport machine: unknown state ${key}`);
    if (node.type !== 'atomic' && node.type !== 'final') {
      throw new Error(`lport machine: state ${key} must be atomic or final`);
    }
    if (node.entry.length + node.exit.length + node.invoke.length + node.after.length > 0) {
      throw new Error(`lport machine: state ${key}: entry/exit/invoke/after are unsupported`);
    }
    const on = {} as Record<LportEventType, readonly CompiledTransition[]>;
    for (const type of lportEventTypes) on[type] = [];
    for (const [descriptor, transitions] of node.transitions) {
      if (!isEventType(descriptor)) {
        throw new Error(`${where(key, descriptor)}: not an lport event (wildcards unsupported)`);
      }
      on[descriptor] = Object.freeze(
        transitions.map((t) => compileTransition(t, where(key, descriptor))),
      );
    }
    const always = Object.freeze(
      (node.always ?? []).map((t) => compileTransition(t, where(key, 'always'))),
    );
    states[key] = { name: key, final: node.type === 'final', on, always };
  }
  for (const name of lportStates) {
    if (states[name] === undefined) throw new Error(`lport machine: state ${name} is missing`);
  }
  for (const t of pending) {
    t.to = t.target === null ? null : states[t.target];
    Object.freeze(t);
  }
  for (const state of Object.values(states)) Object.freeze(state);
  const maxIterations = (machine.options as { maxIterations?: number } | undefined)?.maxIterations;
  return Object.freeze({ initial, states, maxEventless: maxIterations ?? 64 });
}

/** The lport machine, compiled once at load. */
export const compiledLport: CompiledMachine = compileMachine();

const table = compiledLport.states;

/** The first enabled candidate for `event` in `state`, undefined when the state refuses it. */
export function selectTransition(
  state: LportStateName,
  facts: PortFacts,
  me: string,
  event: LportEvent,
): CompiledTransition | undefined {
  const candidates = table[state].on[event.type];
  for (let i = 0; i < candidates.length; i++) {
    const candidate = candidates[i] as CompiledTransition;
    if (candidate.guard(facts, me, event)) return candidate;
  }
  return undefined;
}

/** Runs eventless transitions from `state` until none is enabled; returns the stable state. */
export function settle(
  state: LportStateName,
  facts: MutablePortFacts,
  me: string,
  event: LportEvent,
): LportStateName {
  let current = state;
  for (let iteration = 0; ; iteration++) {
    const candidates = table[current].always;
    let taken: CompiledTransition | undefined;
    for (let i = 0; i < candidates.length; i++) {
      const candidate = candidates[i] as CompiledTransition;
      if (candidate.guard(facts, me, event)) {
        taken = candidate;
        break;
      }
    }
    if (taken === undefined) return current;
    if (iteration >= compiledLport.maxEventless) {
      throw new Error(`lport machine: eventless transitions do not settle from ${state}`);
    }
    const actions = taken.actions;
    for (let i = 0; i < actions.length; i++) (actions[i] as FactsAction)(facts, event);
    if (taken.target !== null) current = taken.target;
  }
}

/**
 * One step of one view on facts it owns: updates `facts` in place and returns the next state,
 * or null when the view refuses the event (facts untouched).
 */
export function advance(
  state: LportStateName,
  facts: MutablePortFacts,
  me: string,
  event: LportEvent,
): LportStateName | null {
  const candidates = table[state].on[event.type];
  for (let i = 0; i < candidates.length; i++) {
    const candidate = candidates[i] as CompiledTransition;
    if (candidate.guard(facts, me, event)) {
      const actions = candidate.actions;
      for (let j = 0; j < actions.length; j++) (actions[j] as FactsAction)(facts, event);
      const next = candidate.target ?? state;
      return table[next].always.length === 0 ? next : settle(next, facts, me, event);
    }
  }
  return null;
}

/** A view as the compiled fold keeps it: identity, state and the port-wide facts. */
export interface FoldView extends LportInput {
  readonly state: LportStateName;
  readonly facts: PortFacts;
}

export const initialView = (input: LportInput): FoldView => ({
  portId: input.portId,
  chassis: input.chassis,
  state: compiledLport.initial,
  facts: initialFacts(),
});

/** The refusal of `event` by a view in `state` (the subject is the event's chassis, else me). */
export function refusalOfView(
  portId: string,
  me: string,
  state: LportStateName,
  facts: PortFacts,
  event: LportEvent,
): Refusal {
  const subject = chassisOf(event) ?? me;
  const subjectState = subject === me ? state : impliedState(facts, subject);
  const code = refusalCodeOf(facts, event) ?? 'no-transition';
  return makeRefusal(portId, subject, subjectState, event, code, facts);
}

/** One pure step: the next view, or the refusal. `view` is left untouched. */
export function step(view: FoldView, event: LportEvent): FoldView | Refusal {
  const facts = cloneFacts(view.facts);
  const next = advance(view.state, facts, view.chassis, event);
  if (next === null) return refusalOfView(view.portId, view.chassis, view.state, view.facts, event);
  return { portId: view.portId, chassis: view.chassis, state: next, facts };
}

export interface FoldOutcome {
  readonly view: FoldView;
  /** Refused events, skipped (as XState leaves the snapshot unchanged), with their index. */
  readonly refusals: readonly { readonly index: number; readonly refusal: Refusal }[];
}

/**
 * Folds events into a view, from its start (`input`) or from an earlier view. Refused events
 * are skipped and reported; nothing is allocated per accepted event beyond the facts' own
 * growth.
 */
export function foldView(events: Iterable<LportEvent>, from: LportInput | FoldView): FoldOutcome {
  const start = 'state' in from ? from : initialView(from);
  const { portId, chassis } = start;
  const facts = cloneFacts(start.facts);
  let node = table[start.state];
  let refusals: { index: number; refusal: Refusal }[] | undefined;
  const list = Array.isArray(events) ? (events as readonly LportEvent[]) : [...events];
  for (let index = 0; index < list.length; index++) {
    const event = list[index] as LportEvent;
    // inlined `advance`, walking compiled states instead of names
    const candidates = node.on[event.type];
    let taken: CompiledTransition | undefined;
    for (let i = 0; i < candidates.length; i++) {
      const candidate = candidates[i] as CompiledTransition;
      if (candidate.guard(facts, chassis, event)) {
        taken = candidate;
        break;
      }
    }
    if (taken === undefined) {
      refusals ??= [];
      refusals.push({ index, refusal: refusalOfView(portId, chassis, node.name, facts, event) });
      continue;
    }
    const actions = taken.actions;
    for (let j = 0; j < actions.length; j++) (actions[j] as FactsAction)(facts, event);
    if (taken.to !== null) node = taken.to;
    if (node.always.length !== 0) node = table[settle(node.name, facts, chassis, event)];
  }
  const state = node.name;
  return { view: { portId, chassis, state, facts }, refusals: refusals ?? [] };
}
