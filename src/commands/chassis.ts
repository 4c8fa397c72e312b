/**
 * Chassis commands and the OvsPorts its agent observes. Both live in `chassis-<id>`, so a
 * chassis and its interfaces change atomically: deleting a chassis deletes its observed
 * interfaces in the same append, and a chassis re-registered under the same id (a re-installed
 * hypervisor keeps its hostname) starts with none.
 */
import type { Chassis, DomainEvent, OvsPort } from '../events/index.js';
import {
  accept,
  alreadyExists,
  type Decision,
  type FieldError,
  invalid,
  notFound,
  unchanged,
  unknownTarget,
} from './decision.js';
import {
  absent,
  definedOnly,
  evolveLifecycle,
  type Lifecycle,
  type StreamFold,
  sameDocument,
} from './lifecycle.js';

export interface ChassisStream {
  readonly chassis: Lifecycle<Chassis>;
  /** Interfaces currently observed, by name. */
  readonly ovsPorts: ReadonlyMap<string, OvsPort>;
}

export const chassisFold: StreamFold<ChassisStream> = {
  initial: { chassis: absent, ovsPorts: new Map() },
  evolve(state, event) {
    switch (event.type) {
      case 'OvsPortCreated':
      case 'OvsPortUpdated':
        return { ...state, ovsPorts: new Map(state.ovsPorts).set(event.data.name, event.data) };
      case 'OvsPortDeleted': {
        const ovsPorts = new Map(state.ovsPorts);
        ovsPorts.delete(event.data.name);
        return { ...state, ovsPorts };
      }
      default:
        return { ...state, chassis: evolveLifecycle('chassis', state.chassis, event) };
    }
  },
  // One map for the whole stream: reducing with `evolve` copies it per event (quadratic).
  foldAll(events) {
    return foldChassisOnto(absent, new Map(), events);
  },
  // A batch report appends a thousand events: the kept state copies its map once for them.
  foldOnto(state, events) {
    return foldChassisOnto(state.chassis, new Map(state.ovsPorts), events);
  },
};

/** Folds `events` onto a chassis lifecycle and a map of its interfaces it owns (mutated). */
function foldChassisOnto(
  from: Lifecycle<Chassis>,
  ovsPorts: Map<string, OvsPort>,
  events: readonly DomainEvent[],
): ChassisStream {
  let chassis = from;
  for (const event of events) {
    if (event.type === 'OvsPortCreated' || event.type === 'OvsPortUpdated')
      ovsPorts.set(event.data.name, event.data);
    else if (event.type === 'OvsPortDeleted') ovsPorts.delete(event.data.name);
    else chassis = evolveLifecycle('chassis', chassis, event);
  }
  return { chassis, ovsPorts };
}

export type ChassisChanges = Partial<Pick<Chassis, 'tunnelIp' | 'tunnelTypes' | 'bridgeMappings'>>;

/** OvsPortDeleted for every interface still observed: a chassis that goes takes them along. */
const forgetInterfaces = (stream: ChassisStream): DomainEvent[] =>
  [...stream.ovsPorts.values()].map((ovsPort) => ({
    type: 'OvsPortDeleted',
    data: { chassis: ovsPort.chassis, name: ovsPort.name },
  }));

/** Registers a chassis; an id that was deleted may register again (it starts afresh). */
export function createChassis(chassis: Chassis, stream: ChassisStream): Decision<Chassis> {
  if (stream.chassis.status === 'live') return alreadyExists('chassis', chassis.id);
  // Interfaces left by a writer that deleted the chassis without them are stale, not observed.
  const events = [...forgetInterfaces(stream), { type: 'ChassisCreated', data: chassis } as const];
  return accept(events, chassis, true);
}

export function updateChassis(
  id: string,
  changes: ChassisChanges,
  stream: ChassisStream,
): Decision<Chassis> {
  if (stream.chassis.status !== 'live') return unknownTarget('chassis', id);
  const current = stream.chassis.document;
  const next: Chassis = { ...current, ...definedOnly(changes) };
  if (sameDocument(current, next)) return unchanged(current);
  return accept([{ type: 'ChassisUpdated', data: next }], next);
}

export function deleteChassis(id: string, stream: ChassisStream): Decision<{ id: string }> {
  if (stream.chassis.status !== 'live') return unknownTarget('chassis', id);
  return accept([...forgetInterfaces(stream), { type: 'ChassisDeleted', data: { id } }], { id });
}

/**
 * An agent reports an interface it observes. Reports are level-triggered (an agent re-reports
 * everything after a restart, and an interface's ofport arrives after the interface itself),
 * so this is an upsert: new → OvsPortCreated (201), changed → OvsPortUpdated, same → nothing.
 */
export function reportOvsPort(
  chassisId: string,
  observed: OvsPort,
  stream: ChassisStream,
): Decision<OvsPort> {
  if (stream.chassis.status !== 'live') return unknownTarget('chassis', chassisId);
  const known = stream.ovsPorts.get(observed.name);
  if (known === undefined)
    return accept([{ type: 'OvsPortCreated', data: observed }], observed, true);
  if (sameDocument(known, observed)) return unchanged(known);
  return accept([{ type: 'OvsPortUpdated', data: observed }], observed);
}

export function removeOvsPort(
  chassisId: string,
  name: string,
  stream: ChassisStream,
): Decision<{ chassis: string; name: string }> {
  if (stream.chassis.status !== 'live') return unknownTarget('chassis', chassisId);
  if (!stream.ovsPorts.has(name)) {
    const reason = `no interface ${name} on chassis ${chassisId}`;
    return notFound(reason, { field: 'name', in: 'path', reason });
  }
  const key = { chassis: chassisId, name };
  return accept([{ type: 'OvsPortDeleted', data: key }], key);
}

/** An agent's many interface reports at once (POST /v1/chassis/:id/ovsports/batch). */
export interface OvsPortBatchInput {
  readonly chassis: string;
  /** Interfaces observed (upserts), each as `reportOvsPort` takes it. */
  readonly observed: readonly OvsPort[];
  /** Names of interfaces gone from the chassis. */
  readonly gone: readonly string[];
}

/** How many of a batch's interfaces became what: appended as created, updated, deleted, or not. */
export interface OvsPortBatchResult {
  readonly chassis: string;
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  readonly unchanged: number;
}

/**
 * A batch of reports decided as one command on the chassis stream, so one append: each
 * observed interface is `reportOvsPort`'s upsert, each gone one `removeOvsPort` except that
 * an interface the log no longer holds is already what the agent reports (nothing, not 404:
 * a batch is level-triggered too). A name twice in the batch (or one for another chassis) is
 * ambiguous: rejected whole, naming each offending item, nothing appended.
 */
export function reportOvsPorts(
  batch: OvsPortBatchInput,
  stream: ChassisStream,
): Decision<OvsPortBatchResult> {
  const problems = batchProblems(batch);
  if (problems.length > 0)
    return invalid('the batch names an interface twice, or on another chassis', ...problems);
  if (stream.chassis.status !== 'live') return unknownTarget('chassis', batch.chassis);
  const events: DomainEvent[] = [];
  const counts = { created: 0, updated: 0, deleted: 0, unchanged: 0 };
  for (const observed of batch.observed) {
    const known = stream.ovsPorts.get(observed.name);
    if (known === undefined) {
      events.push({ type: 'OvsPortCreated', data: observed });
      counts.created++;
    } else if (sameDocument(known, observed)) counts.unchanged++;
    else {
      events.push({ type: 'OvsPortUpdated', data: observed });
      counts.updated++;
    }
  }
  for (const name of batch.gone) {
    if (!stream.ovsPorts.has(name)) counts.unchanged++;
    else {
      events.push({ type: 'OvsPortDeleted', data: { chassis: batch.chassis, name } });
      counts.deleted++;
    }
  }
  return accept(events, { chassis: batch.chassis, ...counts });
}

/** Items naming an interface an earlier item named, or another chassis: one error each. */
function batchProblems({ chassis, observed, gone }: OvsPortBatchInput): FieldError[] {
  const first = new Map<string, string>();
  const problems: FieldError[] = [];
  const note = (name: string, field: string) => {
    const earlier = first.get(name);
    if (earlier === undefined) first.set(name, field);
    else problems.push({ field, reason: `interface ${name} is already named at ${earlier}` });
  };
  observed.forEach((ovsPort, index) => {
    if (ovsPort.chassis !== chassis)
      problems.push({
        field: `/observed/${index}`,
        reason: `interface ${ovsPort.name} is on chassis ${ovsPort.chassis}, not ${chassis}`,
      });
    note(ovsPort.name, `/observed/${index}/name`);
  });
  for (const [index, name] of gone.entries()) note(name, `/gone/${index}`);
  return problems;
}
