/**
 * Given/when/then for the pure deciders, with no store and no runner:
 *
 *   decide('createPort').given(...portStream).when(port, { switchLive: true }).then([created])
 *   decide('deletePort').given(...deleted).when({ id: 'p1' }).then({ kind: 'refused' })
 *   react(classification).given(...log).when(interfacePlugged).then([localCreated])
 *   agent('B').given(...log).then({ put: [{ portId: 'p1', owner: 'A' }], withdraw: [] })
 *
 * A command's `given` events are its stream's history, folded with the entry's fold from the
 * command table; `when` runs the entry's decider with the input and the references it would
 * have read. An app's `given` events are the log's history (model and locality events), folded
 * into a topology; `when` folds one more event and reconciles the ports the apps say it
 * affects, as the runner does. An agent's `given` events are the log's history too; `then`
 * compares the acks chassis C's agent would put and withdraw (its own pure functions, see
 * simulated-agents.ts) with its flows applied. `then` compares what was decided.
 */
import { expect } from 'vitest';
import type { AckDecision } from '../../src/agent/acks.js';
import type { LocalityApp } from '../../src/apps/app.js';
import { PortLocalityFold, refusalOf } from '../../src/apps/port-locality.js';
import {
  type CommandErrorKind,
  type CommandName,
  commandTable,
  type Decision,
  type FieldError,
  type InputOf,
  type ReferencesOf,
  type ResultOf,
  type StateOf,
} from '../../src/commands/index.js';
import { foldStream, type StreamFold } from '../../src/commands/lifecycle.js';
import { portOf } from '../../src/domain/locality.js';
import { Topology } from '../../src/domain/topology.js';
import { type DomainEvent, localityEventTypes, readProblemsOf } from '../../src/events/index.js';
import { agentAcksOf } from './simulated-agents.js';

/** A command's references as `when`'s last argument, absent for commands that read none. */
type ReferencesArgument<N extends CommandName> =
  ReferencesOf<N> extends undefined ? [] : [references: ReferencesOf<N>];

/** The rejection expected: its kind, and any of its other fields (matched as a subset). */
export interface ExpectedRejection {
  readonly kind: CommandErrorKind;
  readonly detail?: string;
  readonly code?: string;
  readonly errors?: readonly Partial<FieldError>[];
}

/** What a decision is compared with: the events appended, or the rejection. */
export type Expected = readonly DomainEvent[] | ExpectedRejection;

export class CommandThen<R> {
  constructor(readonly decision: Decision<R>) {}

  /**
   * The decided events (exactly, and each one readable by the catalogue: the shell would refuse
   * it otherwise; the table checks new values strictly), or the rejection. Returns the decision for further checks (result, created).
   */
  // biome-ignore lint/suspicious/noThenProperty: given/when/then is the spec's grammar; never awaited
  then(expected: Expected): Decision<R> {
    const { decision } = this;
    if (isEvents(expected)) {
      if (!decision.ok)
        throw new Error(`expected events, the command was rejected: ${decision.error.detail}`);
      expect(decision.events).toEqual(expected);
      for (const event of decision.events)
        expect(readProblemsOf(event.type, event.data)).toEqual([]);
    } else {
      if (decision.ok)
        throw new Error(`expected a rejection, the command decided ${describe(decision.events)}`);
      expect(decision.error).toMatchObject(expected);
    }
    return decision;
  }
}

/** The decider of command `name` of the table, given its stream's history. */
export function decide<N extends CommandName>(name: N) {
  const entry = commandTable[name] as unknown as {
    fold: StreamFold<StateOf<N>>;
    decide(
      input: InputOf<N>,
      state: StateOf<N>,
      references: ReferencesOf<N>,
    ): Decision<ResultOf<N>>;
  };
  return {
    given: (...history: DomainEvent[]) => {
      const state = foldStream(entry.fold, history);
      return {
        /** The folded state, for tests of the fold itself. */
        state,
        when: (input: InputOf<N>, ...[references]: ReferencesArgument<N>) =>
          new CommandThen(entry.decide(input, state, references as ReferencesOf<N>)),
      };
    },
  };
}

const localityTypes = new Set<string>(localityEventTypes);

export class AppThen {
  constructor(
    readonly topology: Topology,
    readonly decided: readonly DomainEvent[],
  ) {}

  /** Exactly these locality events, in the order the runner would append them. */
  // biome-ignore lint/suspicious/noThenProperty: given/when/then is the spec's grammar; never awaited
  then(expected: readonly DomainEvent[]): readonly DomainEvent[] {
    expect(this.decided).toEqual(expected);
    return this.decided;
  }
}

/**
 * The apps (in the runner's order when several) reacting to one event after a history. Like
 * the runner: each app names the ports the event affects before and after it is folded, a
 * locality event's own port is re-checked by all, and each port's decisions are chained (every
 * app sees the ones before it). A decision the lport machine refuses fails the test: the runner
 * would drop it, and an app that decides one has a bug.
 */
export function react(...apps: LocalityApp[]) {
  return {
    given: (...history: DomainEvent[]) => {
      const topology = new Topology(new PortLocalityFold());
      for (const event of history) topology.apply(event);
      return {
        topology,
        when: (event: DomainEvent) => new AppThen(topology, reactTo(apps, topology, event)),
      };
    },
  };
}

function reactTo(
  apps: readonly LocalityApp[],
  topology: Topology,
  event: DomainEvent,
): DomainEvent[] {
  const work = new Map<string, Set<LocalityApp>>();
  const add = (app: LocalityApp, portId: string) => {
    const wanted = work.get(portId) ?? new Set<LocalityApp>();
    work.set(portId, wanted.add(app));
  };
  const own = localityTypes.has(event.type) ? portOf(event) : undefined;
  for (const app of apps) {
    if (own !== undefined) add(app, own);
    for (const portId of app.affected(topology, event)) add(app, portId);
  }
  topology.apply(event);
  for (const app of apps) for (const portId of app.affected(topology, event)) add(app, portId);

  const decided: DomainEvent[] = [];
  for (const [portId, wanted] of work) {
    let port = topology.portLocality(portId);
    for (const app of apps) {
      if (!wanted.has(app)) continue;
      for (const decision of app.reconcile(topology, portId, port)) {
        const refusal = refusalOf(portId, port, decision);
        if (refusal) throw new Error(`${app.name} decided a refused event: ${refusal.message}`);
        port = PortLocalityFold.evolve(portId, port, decision);
        decided.push(decision);
      }
    }
  }
  return decided;
}

/**
 * Chassis `chassis`' agent after a history: the acks it puts and withdraws once its flows
 * (from its slice) are applied. Acks come only from agents; the server's apps only withdraw.
 */
export function agent(chassis: string) {
  return {
    given: (...history: DomainEvent[]) => {
      const topology = new Topology(new PortLocalityFold());
      for (const event of history) topology.apply(event);
      const decision = agentAcksOf(topology, chassis);
      return {
        topology,
        decision,
        // biome-ignore lint/suspicious/noThenProperty: given/when/then is the spec's grammar; never awaited
        then(expected: Partial<AckDecision>): AckDecision {
          expect(decision).toEqual({ put: [], withdraw: [], ...expected });
          return decision;
        },
      };
    },
  };
}

const isEvents = (expected: Expected): expected is readonly DomainEvent[] =>
  Array.isArray(expected);

const describe = (events: readonly DomainEvent[]): string =>
  events.length === 0 ? 'nothing' : events.map((event) => event.type).join(', ');
