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
  // Agents report every interface of the chassis here: read only what is new each time.
  keep: true,
  // One map for the whole stream: reducing with `evolve` copies it per event (quadratic).
  foldAll(events) {
    let chassis: Lifecycle<Chassis> = absent;
    const ovsPorts = new Map<string, OvsPort>();
    for (const event of events) {
      if (event.type === 'OvsPortCreated' || event.type === 'OvsPortUpdated')
        ovsPorts.set(event.data.name, event.data);
      else if (event.type === 'OvsPortDeleted') ovsPorts.delete(event.data.name);
      else chassis = evolveLifecycle('chassis', chassis, event);
    }
    return { chassis, ovsPorts };
  },
};

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
